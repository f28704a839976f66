#!/usr/bin/env bash
# gen-proto.sh lints the protobuf sources under proto/ and regenerates the Go
# code next to them (proto/tinypay/store/v1/store.pb.go, package storev1, ...).
#
#   scripts/gen-proto.sh           regenerate in place
#   scripts/gen-proto.sh --check   regenerate into a temp dir and fail if the
#                                  committed files differ (CI)
#
# Inputs:  proto/**/*.proto, proto/buf.yaml, proto/buf.gen.yaml,
#          proto/tinypay/api/v1/api_http.yaml (HTTP bindings) and
#          api_openapi.yaml (OpenAPI options)
# Outputs: proto/**/*.pb.go, *_grpc.pb.go, *.pb.gw.go (the HTTP/JSON
#          gateway), and rpc/openapi/api.swagger.json (its OpenAPI
#          description, embedded in the binary)
#
# Pinned tools, installed by this script with `go install pkg@version` into a
# per-version cache dir outside the repo ($TINYPAY_TOOLS_DIR, default
# ${XDG_CACHE_HOME:-~/.cache}/tinypay/tools):
#   buf                 BUF_VERSION below (compiles the .proto files itself;
#                       no protoc needed)
#   protoc-gen-go       the google.golang.org/protobuf version go.mod requires,
#                       so generated code and runtime always match
#   protoc-gen-go-grpc  PROTOC_GEN_GO_GRPC_VERSION below
#   protoc-gen-grpc-gateway, protoc-gen-openapiv2
#                       the github.com/grpc-ecosystem/grpc-gateway/v2
#                       version go.mod requires (generator and runtime match)
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
	sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
GATEWAY_VERSION="$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/grpc-ecosystem/grpc-gateway/v2)" ||
	die "go.mod does not require github.com/grpc-ecosystem/grpc-gateway/v2"

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
GEN_GATEWAY="$(install_tool protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GATEWAY_VERSION")"
GEN_OPENAPI="$(install_tool protoc-gen-openapiv2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 "$GATEWAY_VERSION")"

# buf.gen.yaml names the plugins as local binaries; put exactly the pinned
# ones first on PATH.
PLUGIN_BIN="$WORK/bin"
mkdir -p "$PLUGIN_BIN"
ln -s "$GEN_GO" "$PLUGIN_BIN/protoc-gen-go"
ln -s "$GEN_GO_GRPC" "$PLUGIN_BIN/protoc-gen-go-grpc"
ln -s "$GEN_GATEWAY" "$PLUGIN_BIN/protoc-gen-grpc-gateway"
ln -s "$GEN_OPENAPI" "$PLUGIN_BIN/protoc-gen-openapiv2"
export PATH="$PLUGIN_BIN:$PATH"

# buf keeps its own cache; keep it with the tools rather than in the repo.
export BUF_CACHE_DIR="${BUF_CACHE_DIR:-$TOOLS_DIR/buf-cache}"

OUT="$WORK/out"
mkdir -p "$OUT"
# Separate steps: set -e does not apply inside a ( ... ) || list.
(cd "$PROTO_DIR" && "$BUF" lint) || die "buf lint failed"
(cd "$PROTO_DIR" && "$BUF" generate --template buf.gen.yaml --output "$OUT") || die "buf generate failed"

# The OpenAPI description is installed under rpc/, where it is embedded.
OPENAPI_OUT="$OUT/openapi/api.swagger.json"
OPENAPI_DST="$ROOT/rpc/openapi/api.swagger.json"
[[ -f "$OPENAPI_OUT" ]] || die "buf generated no OpenAPI description"
if [[ $check == 1 ]]; then
	if ! cmp -s "$OPENAPI_OUT" "$OPENAPI_DST"; then
		echo "gen-proto: rpc/openapi/api.swagger.json differs from what the sources generate:" >&2
		diff -u "$OPENAPI_DST" "$OPENAPI_OUT" | head -n 40 >&2 || true
		die "generated OpenAPI description is out of date: run scripts/gen-proto.sh and commit the result"
	fi
else
	mkdir -p "$(dirname "$OPENAPI_DST")"
	install -m 0644 "$OPENAPI_OUT" "$OPENAPI_DST"
fi
rm -rf "$OUT/openapi"

# Generated files, relative to proto/, in a stable order.
mapfile -t generated < <(cd "$OUT" && find . -type f -name '*.go' | sed 's|^\./||' | LC_ALL=C sort)
[[ ${#generated[@]} -gt 0 ]] || die "buf generated no Go files"
mapfile -t committed < <(cd "$PROTO_DIR" && find . -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \) | sed 's|^\./||' | LC_ALL=C sort)

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
