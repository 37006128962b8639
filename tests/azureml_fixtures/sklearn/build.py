# The same pipeline as pipeline.yml, built with the Azure ML SDK v2 (no workspace, no credential).
from azure.ai.ml import Input, dsl, load_component

train = load_component(source="./components/train.yml")
score = load_component(source="./components/score.yml")
evaluate = load_component(source="./components/eval.yml")


@dsl.pipeline(compute="cpu-cluster", description="train, score, evaluate")
def train_score_eval(training_data, test_data, c=1.0):
    t = train(training_data=training_data, c=c)
    s = score(model=t.outputs.model_output, test_data=test_data)
    evaluate(scored=s.outputs.scored)


pipeline = train_score_eval(
    training_data=Input(type="uri_file", path="./data/train.csv"),
    test_data=Input(type="uri_file", path="./data/test.csv"),
)
