"""Every public name of ``import massivetext as mt`` resolves (the lazy map must not point at nothing)."""

import massivetext as mt


def test_every_public_name_resolves():
    missing = [name for name in mt.__all__ if getattr(mt, name, None) is None]
    assert missing == []
    assert mt.__version__ and "load_dataset" in dir(mt)
