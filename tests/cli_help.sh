#!/usr/bin/env bash
# Help texts show what the commands run: per-command defaults, the documented
# option names, and the aliases still accepted.
. "$(dirname "$0")/lib.sh"
"$BIN" full --help | grep -q -- "--n_epochs N .*training epochs (16; by simulation with bfloat16 products 2x that)" && ok || bad "full --help epochs"
grep -q "define CLI_FULL_EPOCHS 16" src/cli/cli.h && ok || bad "full's epoch constant moved: update this test"
"$BIN" train --help | grep -q -- "training epochs (100; by simulation with bfloat16 products 2x that)" && ok || bad "train --help epochs"
"$BIN" update --help | grep -q -- "--batch_size N .*batch size (1)" && ok || bad "update --help batch"
"$BIN" update --help | grep -q -- "--threads N .*CPU threads (1)" && ok || bad "update --help threads"
"$BIN" infer --help | grep -q -- "--model FILE" && ok || bad "infer --help --model"
"$BIN" infer --help | grep -q -- "^  --model_path" && bad "infer --help lists the alias" || ok
"$BIN" infer --help | grep -q -- "--f_min HZ .*drop measured points below" && ok || bad "infer --help --f_min"
"$BIN" generate --help | grep -q -- "--f_min HZ .*lowest frequency (1)" && ok || bad "generate --help --f_min"
"$BIN" bench --help | grep -q -- "--n_epochs" && bad "bench lists --n_epochs it ignores" || ok
"$BIN" bench --help | grep -q -- "(100; with --quick 20)" && ok || bad "bench --help ground truths"
"$BIN" kk --help | grep -q -- "--max_M M .*(100)" && ok || bad "kk --help"
"$BIN" --help | grep -q "^  kk " && ok || bad "eisnet --help lists kk"
# the alias still works: the error is about the file, not the option
expect_error "not an eisnet model" infer --model_path "$0" --spectrum tests/data/impedance_py/exampleData.csv --known Rsh=1
expect_error "unknown option '--n_epochs'" bench --n_epochs 3
finish
