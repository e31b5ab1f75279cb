
	too-largenlp"train*
llama-3.1-405bB	a100-40gbRZpythonZtrain.py