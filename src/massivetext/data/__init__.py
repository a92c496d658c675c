"""massivetext.data"""
