import logloss


def test_all_lists_public_names():
    public = {name for name in vars(logloss) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(logloss, name)).__name__ == "module"}
    assert set(logloss.__all__) == public - modules


def test_all_names_exist():
    for name in logloss.__all__:
        assert hasattr(logloss, name), name
