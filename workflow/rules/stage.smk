# Data staging: bring the files named in a data manifest onto local disk for tools that
# cannot stream, and resolve the tool parameters to those local paths.
#
#   results/stage/files/      checkpoint stage_data: the staged files, under their manifest names
#                             (kept: it is the rule's output; files may be hard links into the cache)
#   results/stage/staged.json the response: {"success", "result": {"status", "staged_files",
#                             "failed_files", "plugin_params", "run_dir"}}
#
# config:
#   stage:
#     activate: false             # the lead's get_final_output adds "results/stage/staged.json"
#     request: config/stage.json  # {"params": {...}, "data_manifest": {name: url | {url, sha256, decompress}}}
#     jobs: 4                     # files downloaded at once (also the rule's threads)
#     on_error: fail              # fail | continue (continue: failures listed in staged.json, job succeeds)
#     cache_dir: ""               # content cache root; empty: $BAMS3_CACHE_DIR or ~/.cache/bams3
#     decompress: false           # decompress .gz/.zst entries unless an entry says otherwise
#
# Downstream rules take f"{STAGE_DIR}/staged.json" as input and read result.plugin_params
# (bams3.stage.StageResponse.from_dict), or use get_staged_path("param") as an input
# function: stage_data is a checkpoint, so that is evaluated after staging has run.
# The staged files must be local: tools open them as files (keep STAGE_DIR off remote storage).

# Settings, paths and input functions: rules/common.smk, section "data staging" (snakemake --lint
# wants functions apart from rules).


checkpoint stage_data:
    input:
        request=get_stage_setting("request", "config/stage.json"),
    output:
        staged=f"{STAGE_DIR}/staged.json",
        run_dir=directory(f"{STAGE_DIR}/files"),
    log:
        "logs/stage/stage_data.log",
    threads: get_stage_setting("jobs", 4)
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        on_error=get_stage_setting("on_error", "fail"),
        cache_dir=get_stage_setting("cache_dir", ""),
        decompress=get_stage_setting("decompress", False),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/stage.py"
