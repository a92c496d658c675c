"""The main job: `massivetext quickstart`, the whole road on the embedded corpus, built from the public API."""
