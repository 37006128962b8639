"""A step of your own as a plain Python function: its body runs as the step, and this file is
part of the step's key (edit it and the step runs again)."""

from pipefile import dsl


@dsl.command_component
def add_ratios(data: dsl.Input(type="uri_file"), table: dsl.Output(type="uri_file")):
    """Add two ratio features to the wine table."""
    import pandas as pd  # (here, not at the top: loading the pipeline does not need pandas)

    wine = pd.read_parquet(data)
    wine["phenols_ratio"] = wine["flavanoids"] / wine["total_phenols"]
    wine["color_per_hue"] = wine["color_intensity"] / wine["hue"]
    wine.to_parquet(table, index=False)
    print(f"{len(wine)} rows, {wine.shape[1]} columns")
