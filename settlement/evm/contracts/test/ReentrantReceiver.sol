// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title ReentrantReceiver
/// @notice Test-only contract account that acts as a channel participant and
/// tries to re-enter the adjudicator when it receives ETH.
contract ReentrantReceiver {
    /// @notice When true, receive() reverts, so pushed payouts fail.
    bool public rejectPayments;
    /// @notice Calldata sent back to the target from receive(), once; empty
    /// means no re-entry.
    bytes public reentryData;
    address public target;
    /// @notice Outcome of the last re-entry attempt.
    bool public reentryAttempted;
    bool public reentrySucceeded;
    bytes public reentryReturn;

    error CallFailed(bytes data);

    function setRejectPayments(bool reject) external {
        rejectPayments = reject;
    }

    function setReentry(address target_, bytes calldata data) external {
        target = target_;
        reentryData = data;
        reentryAttempted = false;
        reentrySucceeded = false;
        delete reentryReturn;
    }

    /// @notice Calls target with data and msg.value; bubbles up reverts.
    function execute(address to, bytes calldata data) external payable returns (bytes memory ret) {
        bool ok;
        (ok, ret) = to.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    receive() external payable {
        if (rejectPayments) revert CallFailed("");
        if (reentryData.length != 0 && !reentryAttempted) {
            reentryAttempted = true;
            (bool ok, bytes memory ret) = target.call(reentryData);
            reentrySucceeded = ok;
            reentryReturn = ret;
        }
    }
}
