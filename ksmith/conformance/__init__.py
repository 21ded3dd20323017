"""The method conformance suite: the contract every registered method (built-in or plug-in) keeps.

Run it on any method, including one from another package found through the `ksmith.methods`
entry point:

    pytest --pyargs ksmith.conformance --ksmith-methods NAME[,NAME...]

For each method, each task it supports ("edit", "unlearn") and each weight layout (GPT-2 `Conv1D`,
Llama `Linear`) it checks: weights stay finite; only the tensors the method declares in
`UpdateResult.touched` change; the same request and seed give bitwise identical weights; a
method's result does not depend on what ran before it in the process (two single updates applied
to fresh copies in either order give identical results); an empty request changes nothing; a
parametric method does change something; and `prepare(model, tokenizer)`, which the harness calls
before every case, returns timings and changes no weight. The checks are plain functions in
`ksmith.conformance.checks`, so other test suites can call them too.
"""
