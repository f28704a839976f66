#!/usr/bin/env bash
# gen-proto.sh lints the protobuf sources under proto/ and regenerates the Go
# code next to them (proto/tinypay/store/v1/store.pb.go, package storev1, ...).
#
#   scripts/gen-proto.sh           regenerate in place
#   scripts/gen-proto.sh --check   regenerate into a temp dir and fail if the
#                                  committed files differ (CI)
#
# Inputs:  proto/**/*.proto, proto/buf.yaml, proto/buf.gen.yaml
# Outputs: proto/**/*.pb.go (and *_grpc.pb.go once there are services)
#
# Pinned tools, installed by this script with `go install pkg@version` into a
# per-version cache dir outside the repo ($TINYPAY_TOOLS_DIR, default
# ${XDG_CACHE_HOME:-~/.cache}/tinypay/tools):
#   buf                 BUF_VERSION below (compiles the .proto files itself;
#                       no protoc needed)
#   protoc-gen-go       the google.golang.org/protobuf version go.mod requires,
#                       so generated code and runtime always match
#   protoc-gen-go-grpc  PROTOC_GEN_GO_GRPC_VERSION below
# The generated headers name only these pinned versions, so the output is
# byte-identical on every machine. Needs go; runnable from any directory.
set -euo pipefail

BUF_VERSION="v1.75.0"
PROTOC_GEN_GO_GRPC_VERSION="v1.6.2"

die() {
	echo "gen-proto: $*" >&2
	exit 1
}

check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
-h | --help)
	sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument ${1} (want --check or nothing)" ;;
esac

command -v go >/dev/null || die "go is required"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROTO_DIR="$ROOT/proto"
[[ -f "$PROTO_DIR/buf.yaml" ]] || die "missing proto/buf.yaml"
[[ -f "$PROTO_DIR/buf.gen.yaml" ]] || die "missing proto/buf.gen.yaml"

PROTOBUF_VERSION="$(cd "$ROOT" && go list -m -f '{{.Version}}' google.golang.org/protobuf)" ||
	die "go.mod does not require google.golang.org/protobuf"

TOOLS_DIR="${TINYPAY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tinypay/tools}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# install_tool NAME PACKAGE VERSION: prints the path of the pinned binary,
# installing it first if the cache does not have it. Builds run outside the
# repo so that its go.mod neither matters nor changes.
install_tool() {
	local name="$1" pkg="$2" version="$3"
	local dir="$TOOLS_DIR/$name-$version"
	if [[ ! -x "$dir/$name" ]]; then
		echo "gen-proto: installing $pkg@$version into $dir" >&2
		mkdir -p "$dir"
		(cd "$WORK" && GOBIN="$dir" GOFLAGS= GOWORK=off go install "$pkg@$version") >&2 ||
			die "go install $pkg@$version failed"
	fi
	echo "$dir/$name"
}

BUF="$(install_tool buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION")"
GEN_GO="$(install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOBUF_VERSION")"
GEN_GO_GRPC="$(install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION")"

# buf.gen.yaml names the plugins as local binaries; put exactly the pinned
# ones first on PATH.
PLUGIN_BIN="$WORK/bin"
mkdir -p "$PLUGIN_BIN"
ln -s "$GEN_GO" "$PLUGIN_BIN/protoc-gen-go"
ln -s "$GEN_GO_GRPC" "$PLUGIN_BIN/protoc-gen-go-grpc"
export PATH="$PLUGIN_BIN:$PATH"

# buf keeps its own cache; keep it with the tools rather than in the repo.
export BUF_CACHE_DIR="${BUF_CACHE_DIR:-$TOOLS_DIR/buf-cache}"

OUT="$WORK/out"
mkdir -p "$OUT"
# Separate steps: set -e does not apply inside a ( ... ) || list.
(cd "$PROTO_DIR" && "$BUF" lint) || die "buf lint failed"
(cd "$PROTO_DIR" && "$BUF" generate --template buf.gen.yaml --output "$OUT") || die "buf generate failed"

# Generated files, relative to proto/, in a stable order.
mapfile -t generated < <(cd "$OUT" && find . -type f -name '*.go' | sed 's|^\./||' | LC_ALL=C sort)
[[ ${#generated[@]} -gt 0 ]] || die "buf generated no Go files"
mapfile -t committed < <(cd "$PROTO_DIR" && find . -type f -name '*.pb.go' | sed 's|^\./||' | LC_ALL=C sort)

if [[ $check == 1 ]]; then
	status=0
	for rel in "${generated[@]}"; do
		if [[ ! -f "$PROTO_DIR/$rel" ]]; then
			echo "gen-proto: missing proto/$rel" >&2
			status=1
		elif ! cmp -s "$OUT/$rel" "$PROTO_DIR/$rel"; then
			echo "gen-proto: proto/$rel differs from what the sources generate:" >&2
			diff -u "$PROTO_DIR/$rel" "$OUT/$rel" | head -n 40 >&2 || true
			status=1
		fi
	done
	for rel in "${committed[@]}"; do
		[[ -f "$OUT/$rel" ]] || {
			echo "gen-proto: stale generated file proto/$rel (no .proto produces it)" >&2
			status=1
		}
	done
	if [[ $status != 0 ]]; then
		die "generated protobuf code is out of date: run scripts/gen-proto.sh and commit the result"
	fi
	echo "gen-proto: generated code is up to date" >&2
	exit 0
fi

# Remove generated files that no .proto produces any more, then install.
for rel in "${committed[@]}"; do
	[[ -f "$OUT/$rel" ]] || rm -f "$PROTO_DIR/$rel"
done
for rel in "${generated[@]}"; do
	mkdir -p "$(dirname "$PROTO_DIR/$rel")"
	install -m 0644 "$OUT/$rel" "$PROTO_DIR/$rel"
done
echo "gen-proto: wrote ${#generated[@]} file(s) under proto/" >&2
