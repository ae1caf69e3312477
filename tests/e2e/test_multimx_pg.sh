#!/usr/bin/env bash
# test_multimx_pg.sh: test_multimx.sh with the PostgreSQL spool (a private
# cluster), and the database stopped: see test_multimx.sh
MULTIMX_SPOOL=pg exec bash "$(dirname "$0")/test_multimx.sh"
