"""Embedded corpora: real text every machine already has."""
