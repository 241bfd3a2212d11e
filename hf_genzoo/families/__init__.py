"""One module per family (or per group of families that share a pipeline): the record that ties its parts together.

A record (`hf_genzoo.family.Family`) names the family's objective (`hf_genzoo.training`), pipeline
(`hf_genzoo.pipelines`), models, how it samples, what `genzoo evaluate` measures, the panels of its app tab and
its rows in the trilemma benchmark. `hf_genzoo.registry` imports one of these modules when its family is asked
for. The app's panels and the benchmark's rows are imported inside the functions that build them: loading or
sampling a model imports neither the app nor the benchmark.
"""
