// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title tinypay Adjudicator
/// @notice Two-party payment channels with duplex cumulative balance proofs,
/// holding ETH (token == address(0)) or one ERC-20 token per channel.
///
/// Protocol (see shared/ARCHITECTURE.md):
///  - A channel is identified by
///    keccak256(abi.encode(block.chainid, address(this), a, b, token, challengePeriod, salt)).
///    The id is never stored as a parameter hash; every function takes the
///    ChannelParams and recomputes it. A settled channel keeps a Settled
///    marker forever, so an id is never reused.
///  - A participant X signs BalanceProof(channelId, nonce, transferred), where
///    transferred is the cumulative amount X paid the other side. On chain the
///    highest transferred per direction wins, never the highest nonce.
///  - Cooperative close and withdrawal while open need both signatures and
///    carry an expiry.
///  - Signatures are 65 bytes [R || S || V] with V in {27, 28} and low S.
///
/// Payouts (withdraw, cooperativeClose, settle) are pushed to the
/// participant at once. A push that fails (an ETH recipient that reverts or
/// needs more than PUSH_GAS_ETH, a token transfer that fails or needs more than
/// PUSH_GAS_TOKEN) is credited to a pull ledger instead, emitting
/// PayoutCredited; the owner collects it with withdrawPayout(token). So no
/// participant can block the other's payout.
///
/// Amounts: a participant's totalDeposit and totalWithdrawn are stored as
/// uint120 (about 1.3e36 base units); larger totals are refused with
/// AmountTooLarge. Proof amounts (transferred) are full uint256 and settlement
/// clamps them, so it never overflows.
///
/// ERC-20: tokens that return no value are accepted. Tokens whose transfers
/// deliver less than requested (fee-on-transfer, deflationary) are refused at
/// deposit time: the contract measures its balance before and after
/// transferFrom and reverts with FeeOnTransferRefused on any difference.
/// Rebasing tokens are not supported.
contract Adjudicator {
    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    /// @notice Lifecycle of a channel id. Settled is terminal and permanent.
    enum Phase {
        None,
        Open,
        Closed,
        Settled
    }

    /// @notice Everything that defines a channel. a is the first participant
    /// (usually the opener), b the second.
    struct ChannelParams {
        address a;
        address b;
        address token;
        uint64 challengePeriod;
        bytes32 salt;
    }

    /// @notice A balance proof as submitted on chain. An empty signature
    /// means "no proof" and then nonce and transferred must be zero.
    struct Proof {
        uint64 nonce;
        uint256 transferred;
        bytes signature;
    }

    /// @notice A channel's on-chain state, as returned by the views.
    struct ChannelState {
        Phase phase;
        uint256 depositA;
        uint256 depositB;
        uint256 withdrawnA;
        uint256 withdrawnB;
        uint256 transferredAtoB;
        uint256 transferredBtoA;
        uint64 settleAfter;
    }

    /// @dev Storage layout. Slot 0 is all that open writes; slot 1 is written
    /// by the first withdrawal; slots 2-4 only exist while Closed. On
    /// settlement every slot but the phase is cleared.
    struct Channel {
        // slot 0
        Phase phase;
        uint120 depositA;
        uint120 depositB;
        // slot 1
        uint120 withdrawnA;
        uint120 withdrawnB;
        // slot 2
        uint64 settleAfter;
        // slot 3
        uint256 transferredAtoB;
        // slot 4
        uint256 transferredBtoA;
    }

    // ------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------

    /// @notice Largest allowed challenge period.
    uint64 public constant MAX_CHALLENGE_PERIOD = 365 days;

    /// @notice Largest total deposit or total withdrawal of one participant.
    uint256 public constant MAX_AMOUNT = type(uint120).max;

    /// @notice Gas forwarded when pushing ETH to a participant.
    uint256 public constant PUSH_GAS_ETH = 30_000;

    /// @notice Gas forwarded when pushing tokens to a participant.
    uint256 public constant PUSH_GAS_TOKEN = 150_000;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("tinypay");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @notice EIP-712 type hash of BalanceProof.
    bytes32 public constant BALANCE_PROOF_TYPEHASH =
        keccak256("BalanceProof(bytes32 channelId,uint64 nonce,uint256 transferred)");
    /// @notice EIP-712 type hash of CooperativeClose.
    bytes32 public constant COOPERATIVE_CLOSE_TYPEHASH =
        keccak256("CooperativeClose(bytes32 channelId,uint256 balanceA,uint256 balanceB,uint64 expiry)");
    /// @notice EIP-712 type hash of Withdraw.
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(bytes32 channelId,address participant,uint256 totalWithdrawn,uint64 expiry)");

    /// @dev secp256k1n / 2: the largest accepted S.
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    // The domain separator is cached at deployment and recomputed whenever
    // the chain id (a fork) or the address (a delegatecall) differ.
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;
    bytes32 private immutable _cachedDomainSeparator;

    // ------------------------------------------------------------------
    // State
    // ------------------------------------------------------------------

    mapping(bytes32 channelId => Channel) private _channels;

    /// @notice Pull ledger: payouts owed to an account in an asset
    /// (address(0) = ETH), collected with withdrawPayout.
    mapping(address account => mapping(address token => uint256)) public payouts;

    bool private transient _locked;

    // ------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed a,
        address indexed b,
        address token,
        uint64 challengePeriod,
        bytes32 salt
    );
    event Deposited(bytes32 indexed channelId, address indexed participant, uint256 totalDeposit);
    event Withdrawn(bytes32 indexed channelId, address indexed participant, uint256 totalWithdrawn, uint256 amount);
    event CooperativelyClosed(bytes32 indexed channelId, uint256 balanceA, uint256 balanceB);
    event Closed(
        bytes32 indexed channelId,
        address indexed closer,
        uint256 transferredAtoB,
        uint256 transferredBtoA,
        uint64 settleAfter
    );
    event Updated(bytes32 indexed channelId, address indexed from, uint64 nonce, uint256 transferred);
    event Settled(bytes32 indexed channelId, uint256 payoutA, uint256 payoutB);
    /// @notice A push failed; the amount was credited to the pull ledger.
    event PayoutCredited(bytes32 indexed channelId, address indexed account, address indexed token, uint256 amount);
    event PayoutWithdrawn(address indexed account, address indexed token, uint256 amount);

    // ------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------

    error InvalidParticipants(address a, address b);
    error InvalidChallengePeriod(uint64 challengePeriod);
    error NotParticipant(address account);
    error ChannelExists(bytes32 channelId);
    error WrongPhase(bytes32 channelId, Phase phase);
    error ZeroAmount();
    error NotIncreasing(uint256 current, uint256 proposed);
    error AmountTooLarge(uint256 amount, uint256 max);
    error InsufficientFunds(uint256 available, uint256 requested);
    error BalanceMismatch(uint256 available, uint256 balanceA, uint256 balanceB);
    error Expired(uint64 expiry, uint256 timestamp);
    error ChallengePeriodNotOver(uint64 settleAfter, uint256 timestamp);
    error ChallengePeriodOver(uint64 settleAfter, uint256 timestamp);
    error InvalidSignatureLength(uint256 length);
    error InvalidSignatureV(uint8 v);
    error InvalidSignatureS(bytes32 s);
    error InvalidSignature();
    error WrongSigner(address expected, address recovered);
    error SignerNotParticipant(address signer);
    error UnsignedProofNotEmpty();
    error NoProofs();
    error WrongMsgValue(uint256 expected, uint256 actual);
    error NotAToken(address token);
    error TokenTransferFailed(address token);
    error FeeOnTransferRefused(address token, uint256 expected, uint256 received);
    error EthTransferFailed(address to, uint256 amount);
    error NoPayout(address account, address token);
    error Reentrancy();

    // ------------------------------------------------------------------
    // Construction and modifiers
    // ------------------------------------------------------------------

    constructor() {
        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    // ------------------------------------------------------------------
    // Channel lifecycle
    // ------------------------------------------------------------------

    /// @notice Opens the channel and makes the caller's first deposit.
    /// The caller must be p.a or p.b. For ETH msg.value must equal
    /// totalDeposit; for a token the caller must have approved it.
    function open(ChannelParams calldata p, uint256 totalDeposit) external payable nonReentrant returns (bytes32 id) {
        if (p.a == address(0) || p.b == address(0) || p.a == p.b) revert InvalidParticipants(p.a, p.b);
        if (p.challengePeriod == 0 || p.challengePeriod > MAX_CHALLENGE_PERIOD) {
            revert InvalidChallengePeriod(p.challengePeriod);
        }
        bool isA = msg.sender == p.a;
        if (!isA && msg.sender != p.b) revert NotParticipant(msg.sender);
        if (totalDeposit == 0) revert ZeroAmount();
        if (totalDeposit > MAX_AMOUNT) revert AmountTooLarge(totalDeposit, MAX_AMOUNT);

        id = _channelId(p);
        Channel storage c = _channels[id];
        if (c.phase != Phase.None) revert ChannelExists(id);

        c.phase = Phase.Open;
        if (isA) {
            c.depositA = uint120(totalDeposit);
        } else {
            c.depositB = uint120(totalDeposit);
        }
        emit ChannelOpened(id, p.a, p.b, p.token, p.challengePeriod, p.salt);
        emit Deposited(id, msg.sender, totalDeposit);

        _receive(p.token, totalDeposit);
    }

    /// @notice Raises participant's total deposit to newTotalDeposit; anyone
    /// may fund either participant. The difference to the current total is
    /// transferred in; an equal or lower total reverts.
    function deposit(ChannelParams calldata p, address participant, uint256 newTotalDeposit)
        external
        payable
        nonReentrant
    {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        _requirePhase(id, c.phase, Phase.Open);
        bool isA = _side(p, participant);
        uint256 current = isA ? c.depositA : c.depositB;
        if (newTotalDeposit <= current) revert NotIncreasing(current, newTotalDeposit);
        if (newTotalDeposit > MAX_AMOUNT) revert AmountTooLarge(newTotalDeposit, MAX_AMOUNT);

        if (isA) {
            c.depositA = uint120(newTotalDeposit);
        } else {
            c.depositB = uint120(newTotalDeposit);
        }
        emit Deposited(id, participant, newTotalDeposit);

        _receive(p.token, newTotalDeposit - current);
    }

    /// @notice Raises participant's total withdrawn to newTotalWithdrawn while
    /// the channel stays open, with both participants' signatures over
    /// Withdraw(channelId, participant, newTotalWithdrawn, expiry). The
    /// difference is paid to participant. Anyone may submit.
    function withdraw(
        ChannelParams calldata p,
        address participant,
        uint256 newTotalWithdrawn,
        uint64 expiry,
        bytes calldata sigA,
        bytes calldata sigB
    ) external nonReentrant {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        _requirePhase(id, c.phase, Phase.Open);
        bool isA = _side(p, participant);
        if (block.timestamp > expiry) revert Expired(expiry, block.timestamp);
        uint256 current = isA ? c.withdrawnA : c.withdrawnB;
        if (newTotalWithdrawn <= current) revert NotIncreasing(current, newTotalWithdrawn);
        uint256 amount = newTotalWithdrawn - current;
        uint256 available = _available(c);
        if (amount > available) revert InsufficientFunds(available, amount);

        bytes32 digest = _hashTypedData(
            keccak256(abi.encode(WITHDRAW_TYPEHASH, id, participant, newTotalWithdrawn, expiry))
        );
        _requireSigner(digest, sigA, p.a);
        _requireSigner(digest, sigB, p.b);

        // newTotalWithdrawn <= deposits <= 2 * MAX_AMOUNT; the per-field
        // bound is checked here.
        if (newTotalWithdrawn > MAX_AMOUNT) revert AmountTooLarge(newTotalWithdrawn, MAX_AMOUNT);
        if (isA) {
            c.withdrawnA = uint120(newTotalWithdrawn);
        } else {
            c.withdrawnB = uint120(newTotalWithdrawn);
        }
        emit Withdrawn(id, participant, newTotalWithdrawn, amount);

        _pay(id, p.token, participant, amount);
    }

    /// @notice Closes and pays out at once on terms both participants signed:
    /// CooperativeClose(channelId, balanceA, balanceB, expiry). Allowed while
    /// Open or Closed (it supersedes a pending force close). balanceA +
    /// balanceB must equal total deposits minus total withdrawals. Anyone may
    /// submit.
    function cooperativeClose(
        ChannelParams calldata p,
        uint256 balanceA,
        uint256 balanceB,
        uint64 expiry,
        bytes calldata sigA,
        bytes calldata sigB
    ) external nonReentrant {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        Phase phase = c.phase;
        if (phase != Phase.Open && phase != Phase.Closed) revert WrongPhase(id, phase);
        if (block.timestamp > expiry) revert Expired(expiry, block.timestamp);
        uint256 available = _available(c);
        if (balanceA > available || available - balanceA != balanceB) {
            revert BalanceMismatch(available, balanceA, balanceB);
        }
        bytes32 digest = _hashTypedData(
            keccak256(abi.encode(COOPERATIVE_CLOSE_TYPEHASH, id, balanceA, balanceB, expiry))
        );
        _requireSigner(digest, sigA, p.a);
        _requireSigner(digest, sigB, p.b);

        _markSettled(c, phase == Phase.Closed);
        emit CooperativelyClosed(id, balanceA, balanceB);

        _pay(id, p.token, p.a, balanceA);
        _pay(id, p.token, p.b, balanceB);
    }

    /// @notice Force close by a participant. otherProof must be signed by the
    /// counterparty (its transfers to the caller), ownProof by the caller (its
    /// transfers to the counterparty); either may be empty (no signature,
    /// zero nonce and amount). Starts the challenge period: settleAfter =
    /// block.timestamp + challengePeriod.
    function close(ChannelParams calldata p, Proof calldata otherProof, Proof calldata ownProof)
        external
        nonReentrant
    {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        _requirePhase(id, c.phase, Phase.Open);
        bool callerIsA = msg.sender == p.a;
        if (!callerIsA && msg.sender != p.b) revert NotParticipant(msg.sender);
        address other = callerIsA ? p.b : p.a;

        uint256 toCaller = _provenTransferred(id, otherProof, other);
        uint256 fromCaller = _provenTransferred(id, ownProof, msg.sender);
        (uint256 aToB, uint256 bToA) = callerIsA ? (fromCaller, toCaller) : (toCaller, fromCaller);

        uint64 settleAfter = uint64(block.timestamp) + p.challengePeriod;
        c.phase = Phase.Closed;
        c.settleAfter = settleAfter;
        if (aToB != 0) c.transferredAtoB = aToB;
        if (bToA != 0) c.transferredBtoA = bToA;
        emit Closed(id, msg.sender, aToB, bToA, settleAfter);
    }

    /// @notice Presents newer balance proofs during the challenge period
    /// (block.timestamp <= settleAfter). Anyone may call. Each proof's
    /// signer must be a participant; its direction is signer -> other. Each
    /// proof must carry a strictly higher transferred than recorded for its
    /// direction.
    function update(ChannelParams calldata p, Proof[] calldata proofs) external nonReentrant {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        _requirePhase(id, c.phase, Phase.Closed);
        uint64 settleAfter = c.settleAfter;
        if (block.timestamp > settleAfter) revert ChallengePeriodOver(settleAfter, block.timestamp);
        if (proofs.length == 0) revert NoProofs();

        for (uint256 i = 0; i < proofs.length; ++i) {
            Proof calldata proof = proofs[i];
            address signer = _recover(
                _hashTypedData(keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, id, proof.nonce, proof.transferred))),
                proof.signature
            );
            uint256 current;
            if (signer == p.a) {
                current = c.transferredAtoB;
                if (proof.transferred <= current) revert NotIncreasing(current, proof.transferred);
                c.transferredAtoB = proof.transferred;
            } else if (signer == p.b) {
                current = c.transferredBtoA;
                if (proof.transferred <= current) revert NotIncreasing(current, proof.transferred);
                c.transferredBtoA = proof.transferred;
            } else {
                revert SignerNotParticipant(signer);
            }
            emit Updated(id, signer, proof.nonce, proof.transferred);
        }
    }

    /// @notice Settles a force-closed channel after the challenge period
    /// (block.timestamp > settleAfter). Anyone may call.
    /// final(X) = deposit(X) - withdrawn(X) - transferred(X->Y) + transferred(Y->X),
    /// clamped to [0, deposits - withdrawals]; payoutA + payoutB always equals
    /// total deposits minus total withdrawals.
    function settle(ChannelParams calldata p) external nonReentrant {
        bytes32 id = _channelId(p);
        Channel storage c = _channels[id];
        _requirePhase(id, c.phase, Phase.Closed);
        uint64 settleAfter = c.settleAfter;
        if (block.timestamp <= settleAfter) revert ChallengePeriodNotOver(settleAfter, block.timestamp);

        (uint256 payoutA, uint256 payoutB) = _finalBalances(c);

        _markSettled(c, true);
        emit Settled(id, payoutA, payoutB);

        _pay(id, p.token, p.a, payoutA);
        _pay(id, p.token, p.b, payoutB);
    }

    /// @notice Pays msg.sender everything the pull ledger owes it in token
    /// (address(0) = ETH), forwarding all gas. Reverts if nothing is owed.
    function withdrawPayout(address token) external nonReentrant returns (uint256 amount) {
        amount = payouts[msg.sender][token];
        if (amount == 0) revert NoPayout(msg.sender, token);
        payouts[msg.sender][token] = 0;
        emit PayoutWithdrawn(msg.sender, token, amount);

        if (token == address(0)) {
            if (!_sendEth(msg.sender, amount, gasleft())) revert EthTransferFailed(msg.sender, amount);
        } else {
            if (!_tokenTransfer(token, msg.sender, amount, gasleft())) revert TokenTransferFailed(token);
        }
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice The id of the channel defined by p on this chain and contract.
    function channelId(ChannelParams calldata p) external view returns (bytes32) {
        return _channelId(p);
    }

    /// @notice The state of channel id.
    function channel(bytes32 id) public view returns (ChannelState memory s) {
        Channel storage c = _channels[id];
        s.phase = c.phase;
        s.depositA = c.depositA;
        s.depositB = c.depositB;
        s.withdrawnA = c.withdrawnA;
        s.withdrawnB = c.withdrawnB;
        s.transferredAtoB = c.transferredAtoB;
        s.transferredBtoA = c.transferredBtoA;
        s.settleAfter = c.settleAfter;
    }

    /// @notice The state of the channel defined by p, and its id.
    function channelByParams(ChannelParams calldata p) external view returns (bytes32 id, ChannelState memory s) {
        id = _channelId(p);
        s = channel(id);
    }

    /// @notice The EIP-712 domain separator for this chain and contract.
    function domainSeparator() public view returns (bytes32) {
        if (block.chainid == _cachedChainId && address(this) == _cachedThis) return _cachedDomainSeparator;
        return _buildDomainSeparator();
    }

    /// @notice The EIP-712 digest a payer signs for a balance proof.
    function balanceProofDigest(bytes32 id, uint64 nonce, uint256 transferred) external view returns (bytes32) {
        return _hashTypedData(keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, id, nonce, transferred)));
    }

    /// @notice The EIP-712 digest both participants sign for a cooperative close.
    function cooperativeCloseDigest(bytes32 id, uint256 balanceA, uint256 balanceB, uint64 expiry)
        external
        view
        returns (bytes32)
    {
        return _hashTypedData(keccak256(abi.encode(COOPERATIVE_CLOSE_TYPEHASH, id, balanceA, balanceB, expiry)));
    }

    /// @notice The EIP-712 digest both participants sign for a withdrawal.
    function withdrawDigest(bytes32 id, address participant, uint256 totalWithdrawn, uint64 expiry)
        external
        view
        returns (bytes32)
    {
        return _hashTypedData(keccak256(abi.encode(WITHDRAW_TYPEHASH, id, participant, totalWithdrawn, expiry)));
    }

    // ------------------------------------------------------------------
    // Internal: channel helpers
    // ------------------------------------------------------------------

    function _channelId(ChannelParams calldata p) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), p.a, p.b, p.token, p.challengePeriod, p.salt));
    }

    function _requirePhase(bytes32 id, Phase actual, Phase expected) private pure {
        if (actual != expected) revert WrongPhase(id, actual);
    }

    /// @dev True if participant is p.a, false if p.b, reverts otherwise.
    function _side(ChannelParams calldata p, address participant) private pure returns (bool isA) {
        isA = participant == p.a;
        if (!isA && participant != p.b) revert NotParticipant(participant);
    }

    /// @dev Total deposits minus total withdrawals (never negative: every
    /// withdrawal is checked against it).
    function _available(Channel storage c) private view returns (uint256) {
        return uint256(c.depositA) + uint256(c.depositB) - uint256(c.withdrawnA) - uint256(c.withdrawnB);
    }

    /// @dev The transferred amount of a close proof that must be signed by
    /// expectedSigner, or 0 for an empty proof.
    function _provenTransferred(bytes32 id, Proof calldata proof, address expectedSigner)
        private
        view
        returns (uint256)
    {
        if (proof.signature.length == 0) {
            if (proof.nonce != 0 || proof.transferred != 0) revert UnsignedProofNotEmpty();
            return 0;
        }
        bytes32 digest =
            _hashTypedData(keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, id, proof.nonce, proof.transferred)));
        _requireSigner(digest, proof.signature, expectedSigner);
        return proof.transferred;
    }

    /// @dev Final balances of a force-closed channel, without overflow for
    /// any transferred values.
    function _finalBalances(Channel storage c) private view returns (uint256 payoutA, uint256 payoutB) {
        uint256 available = _available(c);
        uint256 aToB = c.transferredAtoB;
        uint256 bToA = c.transferredBtoA;
        if (aToB >= bToA) {
            payoutA = _payerBalance(c.depositA, c.withdrawnA, aToB - bToA, available);
            payoutB = available - payoutA;
        } else {
            payoutB = _payerBalance(c.depositB, c.withdrawnB, bToA - aToB, available);
            payoutA = available - payoutB;
        }
    }

    /// @dev clamp(deposited - withdrawn - netPaid, 0, available) for the side
    /// that paid net netPaid; the other side gets the rest.
    function _payerBalance(uint256 deposited, uint256 withdrawn, uint256 netPaid, uint256 available)
        private
        pure
        returns (uint256)
    {
        if (deposited <= withdrawn) return 0;
        uint256 own = deposited - withdrawn;
        if (netPaid >= own) return 0;
        uint256 rest = own - netPaid;
        return rest < available ? rest : available;
    }

    /// @dev Leaves only the Settled marker; clears every other slot (gas
    /// refund). Slots 2-4 are written only while Closed.
    function _markSettled(Channel storage c, bool wasClosed) private {
        c.phase = Phase.Settled;
        c.depositA = 0;
        c.depositB = 0;
        if (c.withdrawnA != 0 || c.withdrawnB != 0) {
            c.withdrawnA = 0;
            c.withdrawnB = 0;
        }
        if (wasClosed) {
            c.settleAfter = 0;
            c.transferredAtoB = 0;
            c.transferredBtoA = 0;
        }
    }

    // ------------------------------------------------------------------
    // Internal: EIP-712 and signatures
    // ------------------------------------------------------------------

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _hashTypedData(bytes32 structHash) private view returns (bytes32 digest) {
        bytes32 separator = domainSeparator();
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, hex"1901")
            mstore(add(m, 0x02), separator)
            mstore(add(m, 0x22), structHash)
            digest := keccak256(m, 0x42)
        }
    }

    /// @dev Recovers the signer of digest from a 65-byte [R || S || V]
    /// signature; V must be 27 or 28, S must be low, the result nonzero.
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) revert InvalidSignatureLength(sig.length);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(sig.offset)
            s := calldataload(add(sig.offset, 0x20))
            v := byte(0, calldataload(add(sig.offset, 0x40)))
        }
        if (v != 27 && v != 28) revert InvalidSignatureV(v);
        if (uint256(s) > HALF_N) revert InvalidSignatureS(s);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    function _requireSigner(bytes32 digest, bytes calldata sig, address expected) private pure {
        address signer = _recover(digest, sig);
        if (signer != expected) revert WrongSigner(expected, signer);
    }

    // ------------------------------------------------------------------
    // Internal: moving assets
    // ------------------------------------------------------------------

    /// @dev Takes amount of the channel's asset from msg.sender.
    function _receive(address token, uint256 amount) private {
        if (token == address(0)) {
            if (msg.value != amount) revert WrongMsgValue(amount, msg.value);
            return;
        }
        if (msg.value != 0) revert WrongMsgValue(0, msg.value);
        uint256 before = _tokenBalance(token);
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, 0x23b872dd)) // transferFrom(address,address,uint256)
            mstore(add(m, 0x04), caller())
            mstore(add(m, 0x24), address())
            mstore(add(m, 0x44), amount)
            ok := call(gas(), token, 0, m, 0x64, 0, 0x20)
            if ok {
                switch returndatasize()
                case 0 { ok := gt(extcodesize(token), 0) }
                default { ok := and(gt(returndatasize(), 0x1f), eq(mload(0), 1)) }
            }
        }
        if (!ok) revert TokenTransferFailed(token);
        uint256 afterwards = _tokenBalance(token);
        uint256 received = afterwards > before ? afterwards - before : 0;
        if (received != amount) revert FeeOnTransferRefused(token, amount, received);
    }

    function _tokenBalance(address token) private view returns (uint256 bal) {
        bool ok;
        assembly ("memory-safe") {
            mstore(0, shl(224, 0x70a08231)) // balanceOf(address)
            mstore(0x04, address())
            ok := staticcall(gas(), token, 0, 0x24, 0, 0x20)
            // Yul evaluates arguments right to left: check the size after the call.
            ok := and(ok, gt(returndatasize(), 0x1f))
            bal := mload(0)
        }
        if (!ok) revert NotAToken(token);
    }

    /// @dev Pushes amount to `to`; on failure credits the pull ledger.
    function _pay(bytes32 id, address token, address to, uint256 amount) private {
        if (amount == 0) return;
        bool ok = token == address(0)
            ? _sendEth(to, amount, PUSH_GAS_ETH)
            : _tokenTransfer(token, to, amount, PUSH_GAS_TOKEN);
        if (!ok) {
            payouts[to][token] += amount;
            emit PayoutCredited(id, to, token, amount);
        }
    }

    /// @dev Sends ETH without copying return data; false on failure.
    function _sendEth(address to, uint256 amount, uint256 gasLimit) private returns (bool ok) {
        assembly ("memory-safe") {
            ok := call(gasLimit, to, amount, 0, 0, 0, 0)
        }
    }

    /// @dev ERC-20 transfer tolerant of tokens returning nothing; false on
    /// failure (revert, false, or no code at token).
    function _tokenTransfer(address token, address to, uint256 amount, uint256 gasLimit) private returns (bool ok) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, 0xa9059cbb)) // transfer(address,uint256)
            mstore(add(m, 0x04), to)
            mstore(add(m, 0x24), amount)
            ok := call(gasLimit, token, 0, m, 0x44, 0, 0x20)
            if ok {
                switch returndatasize()
                case 0 { ok := gt(extcodesize(token), 0) }
                default { ok := and(gt(returndatasize(), 0x1f), eq(mload(0), 1)) }
            }
        }
    }
}
