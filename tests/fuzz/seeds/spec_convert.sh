#!/usr/bin/env bash
# Regenerates corpus/spec_convert_fuzzer/ (serialized berth.v1.JobSpec
# messages) from the text-format specs in seeds/*.textproto, with protoc.
#
#   bash tests/fuzz/seeds/spec_convert.sh
set -euo pipefail
cd "$(dirname "$0")"
root=../../..
for spec in *.textproto; do
  protoc --encode=berth.v1.JobSpec -I"$root/proto" berth/v1/job.proto \
    < "$spec" > "../corpus/spec_convert_fuzzer/${spec%.textproto}.pb"
done
