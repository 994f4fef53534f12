#!/usr/bin/env bash
# Writes, with the repro installed in $REPRO's venv, a small store with an archived
# busybox-based image and a small packed artifact.
set -euo pipefail
REPRO=${REPRO:?}
OUT=${OUT:?}
work=$(mktemp -d /tmp/repro-fixture-v1.XXXX)
ctx=$work/ctx; mkdir -p $ctx
cp /bin/busybox $ctx/busybox
cat > $ctx/Dockerfile <<'D'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY content.txt /content.txt
CMD ["/bin/sh"]
D
echo "an image archived by repro 0.1.0" > $ctx/content.txt
tag=repro-fixture/archived-v1:1
docker build -q -t $tag $ctx >/dev/null
id=$(docker image inspect --format '{{.Id}}' $tag)
proj=$work/project; mkdir -p $proj; cd $proj
git init -q -b main; git config user.email t@example.org; git config user.name fixture
mkdir data; echo "1 2 3" > data/table.txt
cat > exp.yaml <<M
version: 1
name: archived-v1
image: {name: "$tag", id: "$id"}
command: [sh, -c, "cat /content.txt /data/table.txt > /out/result.txt; echo {n} >> /out/result.txt"]
sweep: {n: [1, 2]}
mounts:
  - {source: ./data, target: /data}
M
git add -A; git commit -q -m "the experiment"
$REPRO run exp.yaml --archive
$REPRO pack --all -o $work/artifact-v1.tar.gz
git bundle create -q $work/project.bundle --all
echo "$work $id"
