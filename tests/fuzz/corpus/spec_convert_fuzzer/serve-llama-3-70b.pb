
serve-llama-3-70bserving"infer*
llama-3-70b:
bf16 €@ZpythonZserve.py