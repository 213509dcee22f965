# Data staging: bring the files named in a data manifest into results/stage/files/ and
# write the tool parameters resolved to those local paths as results/stage/staged.json.
#
# config:
#   stage:
#     request: config/stage.json   # {"params": {...}, "data_manifest": {name: url | {url, sha256, decompress}}}
#     jobs: 4                      # files downloaded at once (also the rule's threads)
#     on_error: fail               # fail | continue (continue: failures listed in staged.json)
#     cache_dir: ""                # content cache root; empty: $BAMS3_CACHE_DIR or ~/.cache/bams3
#     decompress: false            # decompress .gz/.zst entries unless an entry says otherwise
#
# Downstream rules take "results/stage/staged.json" as input and read
# result.plugin_params from it (bams3.stage.StageResponse.from_dict), or call
# get_staged_params() / get_staged_path(param) from an input function: this is a
# checkpoint, so those are evaluated after staging has run.


def get_stage_setting(name, default):
    return lookup(dpath=f"stage/{name}", within=config, default=default)


def get_staged_params(wildcards=None):
    """The resolved parameters (after the stage_data checkpoint has run)."""
    import json

    with open(checkpoints.stage_data.get().output.staged) as handle:
        return json.load(handle)["result"]["plugin_params"]


def get_staged_path(param):
    """An input function giving the local path the parameter ``param`` resolved to."""

    def inner(wildcards):
        return get_staged_params(wildcards)[param]

    return inner


checkpoint stage_data:
    input:
        request=get_stage_setting("request", "config/stage.json"),
    output:
        staged="results/stage/staged.json",
        run_dir=directory("results/stage/files"),
    log:
        "logs/stage/stage_data.log",
    threads: get_stage_setting("jobs", 4)
    params:
        on_error=get_stage_setting("on_error", "fail"),
        cache_dir=get_stage_setting("cache_dir", ""),
        decompress=get_stage_setting("decompress", False),
    script:
        "../../scripts/stage.py"
