"""The fitters: each reproduces a table of fitted weights that the product reads from `qa/data/`.

python -m bench.fit.rerank       # qa/data/rerank.json (qa.answering.rerank)
python -m bench.fit.span_score   # qa/data/span_score.json (qa.answering.span_score)
python -m bench.fit.calibrate    # qa/data/calibration.json (qa.answering.abstain)
"""
