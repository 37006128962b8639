"""Wine cultivars with the Python DSL: std components and a function of your own.

pipe run -f build.py                          # the `pipeline` below
pipe run -f build.py -p model=random_forest_classifier
pipe run -f build.py:compare                  # one task per model (a matrix)
pipe export build.py -o Pipefile              # the same pipeline as a Pipefile (same keys)
"""

from features import add_ratios

from pipefile import dsl

sample = dsl.load_component("std/sample_data@1")
split = dsl.load_component("std/split_data@1")
train = dsl.load_component("std/train_model@1")
score = dsl.load_component("std/score_model@1")
evaluate = dsl.load_component("std/evaluate_model@1")


@dsl.pipeline(name="dsl-wine")
def wine(seed: int = 7, model: str = "logistic_regression", fraction: float = 0.75):
    """Features, a stratified split, a model, its scores on the held-out rows."""
    data = sample(name="wine")
    features = add_ratios(data=data.outputs.data)
    parts = split(data=features.outputs.table, fraction=fraction, seed=seed, stratify_column="target")
    fit = train(data=parts.outputs.train, label="target", model=model, seed=seed)
    fit.outputs.model.path = "build/model"  # where it lands (default: build/STEP/OUTPUT)
    scored = score(model=fit.outputs.model, data=parts.outputs.test)
    report = evaluate(scored=scored.outputs.scored, label="target")
    report.outputs.metrics.path = "build/metrics.json"


@dsl.pipeline(name="dsl-wine-models")
def models(seed: int = 7):
    """The same data, one model per task: fit[model=...]."""
    data = sample(name="wine")
    parts = split(data=data.outputs.data, seed=seed, stratify_column="target")
    train(data=parts.outputs.train, label="target", seed=seed).matrix(
        model=["logistic_regression", "random_forest_classifier"]
    )


pipeline = wine()
compare = models()
