"""`import dlt` on sdp-emulator's local engine: the pipelines API under its Databricks name
(`sdp_api.install_pipelines_api()` has run before any pipeline file is imported)."""

from sdp_api import (  # noqa: F401
    append_flow,
    apply_changes,
    create_auto_cdc_flow,
    create_streaming_table,
    create_target_table,
    expect,
    expect_all,
    expect_all_or_drop,
    expect_all_or_fail,
    expect_or_drop,
    expect_or_fail,
    materialized_view,
    read,
    read_stream,
    table,
    temporary_view,
    view,
)
