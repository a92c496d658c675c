"""massivetext.training"""
