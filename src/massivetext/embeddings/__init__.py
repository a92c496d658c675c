"""Word vectors (gensim): train, save/load (word2vec text and binary, GloVe), evaluate, initialise embeddings."""
