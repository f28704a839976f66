#!/usr/bin/env bash
# gen-contracts.sh compiles the settlement contracts and regenerates their
# committed artifacts and Go bindings.
#
#   scripts/gen-contracts.sh           regenerate in place
#   scripts/gen-contracts.sh --check   regenerate into a temp dir and fail if
#                                      the committed files differ (CI)
#
# Inputs:  settlement/evm/contracts/*.sol and settlement/evm/contracts/test/*.sol
# Outputs: settlement/evm/contracts/build/<Contract>.{abi,bin}
#          settlement/evm/bindings/<contract>.go            (package bindings)
#          settlement/evm/bindings/testbindings/<contract>.go (package testbindings)
#
# Pinned: solc (npm package, exact version, standard-JSON input with a fixed
# evmVersion, viaIR, optimizer runs and metadata bytecodeHash "none", so the
# output is byte-identical on every machine) and abigen (installed at the
# go-ethereum version that go.mod requires). Needs node and npm (solc goes
# into a cache dir, $TINYPAY_SOLC_DIR or ~/.cache/tinypay, never into the
# repo) and go.
set -euo pipefail

SOLC_VERSION="0.8.37"
SOLC_COMMIT="f401782d"
EVM_VERSION="cancun"
OPTIMIZER_RUNS="10000"

# Contracts: "<source unit> <contract> <go package dir relative to bindings/> <go file>"
CONTRACTS=(
	"Adjudicator.sol Adjudicator . adjudicator.go"
	"TestToken.sol TestToken . testtoken.go"
	"test/NoReturnToken.sol NoReturnToken testbindings noreturntoken.go"
	"test/FeeOnTransferToken.sol FeeOnTransferToken testbindings feeontransfertoken.go"
	"test/ReentrantReceiver.sol ReentrantReceiver testbindings reentrantreceiver.go"
)

die() {
	echo "gen-contracts: $*" >&2
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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTRACTS_DIR="$ROOT/settlement/evm/contracts"
BUILD_REL="settlement/evm/contracts/build"
BINDINGS_REL="settlement/evm/bindings"

command -v node >/dev/null || die "node is required (Debian package nodejs)"
command -v npm >/dev/null || die "npm is required (Debian package npm)"
command -v go >/dev/null || die "go is required"

# --- solc from npm, cached per version outside the repo ---------------------
SOLC_DIR="${TINYPAY_SOLC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tinypay/solc-$SOLC_VERSION}"
if [[ ! -f "$SOLC_DIR/node_modules/solc/package.json" ]] ||
	[[ "$(node -p "require('$SOLC_DIR/node_modules/solc/package.json').version")" != "$SOLC_VERSION" ]]; then
	echo "gen-contracts: installing solc@$SOLC_VERSION into $SOLC_DIR" >&2
	mkdir -p "$SOLC_DIR"
	npm install --no-save --no-audit --no-fund --loglevel=error \
		--prefix "$SOLC_DIR" "solc@$SOLC_VERSION" >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/out"
mkdir -p "$OUT/$BUILD_REL" "$OUT/$BINDINGS_REL/testbindings"

# --- compile via standard JSON ----------------------------------------------
cat >"$WORK/compile.js" <<'JS'
'use strict';
const fs = require('fs');
const path = require('path');
const [solcDir, srcDir, outDir, wantVersion, wantCommit, evmVersion, runs, ...units] = process.argv.slice(2);
const solc = require(path.join(solcDir, 'node_modules', 'solc'));
const version = solc.version();
if (!version.startsWith(`${wantVersion}+commit.${wantCommit}`)) {
  console.error(`gen-contracts: solc is ${version}, want ${wantVersion}+commit.${wantCommit}`);
  process.exit(1);
}
const sources = {};
for (const u of [...new Set(units)].sort()) {
  sources[u] = { content: fs.readFileSync(path.join(srcDir, u), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion,
    viaIR: true,
    optimizer: { enabled: true, runs: Number(runs) },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
for (const unit of Object.keys(output.contracts).sort()) {
  for (const name of Object.keys(output.contracts[unit]).sort()) {
    const c = output.contracts[unit][name];
    const runtime = c.evm.deployedBytecode.object.length / 2;
    if (runtime > 24576) {
      console.error(`gen-contracts: ${name} runtime code is ${runtime} bytes, over the 24576-byte limit`);
      process.exit(1);
    }
    fs.writeFileSync(path.join(outDir, `${name}.abi`), JSON.stringify(c.abi, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, `${name}.bin`), c.evm.bytecode.object);
  }
}
JS

units=()
for spec in "${CONTRACTS[@]}"; do
	read -r unit _ <<<"$spec"
	units+=("$unit")
done
node "$WORK/compile.js" "$SOLC_DIR" "$CONTRACTS_DIR" "$OUT/$BUILD_REL" \
	"$SOLC_VERSION" "$SOLC_COMMIT" "$EVM_VERSION" "$OPTIMIZER_RUNS" "${units[@]}"

# --- Go bindings with the abigen of the go-ethereum version in go.mod --------
GETH_VERSION="$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)" ||
	die "go.mod does not require github.com/ethereum/go-ethereum"
ABIGEN="$WORK/abigen"
(cd "$WORK" && GOBIN="$WORK" go install "github.com/ethereum/go-ethereum/cmd/abigen@$GETH_VERSION")

generated=()
for spec in "${CONTRACTS[@]}"; do
	read -r _ name pkgdir file <<<"$spec"
	pkg="bindings"
	[[ "$pkgdir" != "." ]] && pkg="$pkgdir"
	rel="$BINDINGS_REL/$pkgdir/$file"
	rel="${rel//\/.\//\/}"
	"$ABIGEN" --v2 --pkg "$pkg" --type "$name" \
		--abi "$OUT/$BUILD_REL/$name.abi" --bin "$OUT/$BUILD_REL/$name.bin" \
		--out "$OUT/$rel"
	chmod 0644 "$OUT/$rel"
	generated+=("$rel")
done
for f in "$OUT/$BUILD_REL"/*; do
	chmod 0644 "$f"
	generated+=("$BUILD_REL/$(basename "$f")")
done

# Generated bindings in the tree that no contract produces any more.
stale=()
for f in "$ROOT/$BINDINGS_REL"/*.go "$ROOT/$BINDINGS_REL"/testbindings/*.go; do
	[[ -e "$f" ]] || continue
	head -n 1 "$f" | grep -q '^// Code generated via abigen' || continue
	rel="${f#"$ROOT"/}"
	[[ " ${generated[*]} " == *" $rel "* ]] || stale+=("$rel")
done

# --- install or check ---------------------------------------------------------
if [[ $check == 1 ]]; then
	status=0
	for rel in "${generated[@]}"; do
		if [[ ! -f "$ROOT/$rel" ]]; then
			echo "gen-contracts: missing $rel" >&2
			status=1
		elif ! cmp -s "$OUT/$rel" "$ROOT/$rel"; then
			echo "gen-contracts: $rel differs from what the sources generate:" >&2
			diff -u "$ROOT/$rel" "$OUT/$rel" | head -n 40 >&2 || true
			status=1
		fi
	done
	# Artifacts in build/ that no contract produces any more.
	for f in "$ROOT/$BUILD_REL"/*; do
		[[ -e "$f" ]] || continue
		[[ -e "$OUT/$BUILD_REL/$(basename "$f")" ]] || {
			echo "gen-contracts: stale artifact $BUILD_REL/$(basename "$f")" >&2
			status=1
		}
	done
	for rel in "${stale[@]}"; do
		echo "gen-contracts: stale generated binding $rel" >&2
		status=1
	done
	if [[ $status != 0 ]]; then
		die "generated contract files are out of date: run scripts/gen-contracts.sh and commit the result"
	fi
	echo "gen-contracts: artifacts and bindings are up to date" >&2
	exit 0
fi

rm -rf "${ROOT:?}/$BUILD_REL"
for rel in "${stale[@]}"; do
	rm -f "${ROOT:?}/$rel"
done
mkdir -p "$ROOT/$BUILD_REL" "$ROOT/$BINDINGS_REL/testbindings"
for rel in "${generated[@]}"; do
	cp "$OUT/$rel" "$ROOT/$rel"
done
echo "gen-contracts: wrote $BUILD_REL and $BINDINGS_REL" >&2
