"""Deduplication: exact (normalized text hash) and near (MinHash LSH), staged on disk so they scale."""
