"""massivetext.curate"""
