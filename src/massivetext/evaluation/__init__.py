"""massivetext.evaluation"""
