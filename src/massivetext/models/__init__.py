"""massivetext.models: compact PyTorch model families that read and write Hugging Face checkpoints.

Families: gpt (GPT-2 + modern options), bert (BERT, RoBERTa), t5, marian, lstm. Entry points: the Auto classes in
``auto.py`` (also exported as ``massivetext.AutoModelFor*``).
"""
