"""massivetext.models"""
