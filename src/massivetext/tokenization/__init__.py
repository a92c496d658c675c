"""massivetext.tokenization"""
