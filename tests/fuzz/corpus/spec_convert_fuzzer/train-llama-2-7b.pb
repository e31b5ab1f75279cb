
train-llama-2-7bnlp"train*

llama-2-7b2Ä B	h100-80gbZpythonZtrain.pyhê