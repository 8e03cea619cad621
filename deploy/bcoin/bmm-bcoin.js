#!/usr/bin/env node
// BMM pool's launcher for bcoin, the sha256d regtest node of the local stack
// (deploy/stack.sh starts it; deploy/bcoin/README.md says why bcoin).
//
// It runs bcoin's own full node as node_modules/bcoin/bin/node does, after
// small run-time fixes for bugs met with bcoin 1.0.2 on Node 20. Each fix
// wraps one function; none touches consensus code.
// Options are bcoin's own (--prefix, --http-port, --api-key, --wallet-*...).
//
//   NODE_BACKEND=js node deploy/bcoin/bmm-bcoin.js --network=regtest --prefix=DIR ...
'use strict';

process.title = 'bmm-bcoin';
if (process.env.NODE_BACKEND !== 'js') {
    // bcrypto's native backend is not installed (npm install --ignore-scripts)
    // and mrmr has no JavaScript fallback unless NODE_BACKEND=js.
    console.error('bmm-bcoin: set NODE_BACKEND=js (deploy/stack.sh does); the native backends are not built');
    process.exit(2);
}

const path = require('path');
const bcoin = require('bcoin');

// Fix 1: the regtest network must be the primary one, or addresses print
// with mainnet prefixes (bc1..., 1...) in RPC answers.
const networkArg = process.argv.find((a) => a.startsWith('--network='));
bcoin.Network.set(networkArg ? networkArg.split('=')[1] : 'regtest');

// Fix 2: with abstract-leveldown 6 (pulled in by leveldown 5.6.0) a range
// option left unset (gte: undefined) is serialised to the string "null":
// every wallet range scan comes back empty and the wallet dies at
// assert(tip) in WalletDB.syncState. Drop unset range options.
{
    const leveldownDir = path.dirname(require.resolve('leveldown'));
    const abstractPath = require.resolve('abstract-leveldown', {paths: [leveldownDir]});
    const {AbstractLevelDOWN} = require(abstractPath);
    const setup = AbstractLevelDOWN.prototype._setupIteratorOptions;
    AbstractLevelDOWN.prototype._setupIteratorOptions = function (options) {
        const clean = Object.assign({}, options);
        for (const k of ['start', 'end', 'gt', 'gte', 'lt', 'lte']) {
            if (clean[k] === null || clean[k] === undefined) delete clean[k];
        }
        return setup.call(this, clean);
    };
}

// Fix 3: `getnewaddress` without an account answers "Account not found."
// (it looks up account null): name the default account, as Core does.
const WalletRPC = require('bcoin/lib/wallet/rpc');
{
    const getNewAddress = WalletRPC.prototype.getNewAddress;
    WalletRPC.prototype.getNewAddress = function (args, help) {
        const fixed = Array.isArray(args) && args.length === 0 ? ['default'] : args;
        return getNewAddress.call(this, fixed, help);
    };
}

// Fix 4: `gettransaction` on a send reads details.fee, which the wallet's
// Details records do not have (they have getFee()): give them the field.
{
    const Wallet = require('bcoin/lib/wallet/wallet');
    const toDetails = Wallet.prototype.toDetails;
    const withFee = (d) => {
        if (d && d.fee === undefined && typeof d.getFee === 'function') d.fee = d.getFee();
        return d;
    };
    Wallet.prototype.toDetails = async function (wtxs) {
        const details = await toDetails.call(this, wtxs);
        return Array.isArray(details) ? details.map(withFee) : withFee(details);
    };
}

// Fix 5: WalletDB parses the --wallet-witness option but never uses it, so
// the primary wallet hands out legacy addresses. Create the primary wallet
// with it: with --wallet-witness=true its addresses are bech32 (bcrt1q...),
// Bitcoin Core's default. (Only a new wallet: an existing one keeps its kind.)
{
    const WalletDB = require('bcoin/lib/wallet/walletdb');
    const ensure = WalletDB.prototype.ensure;
    WalletDB.prototype.ensure = function (options) {
        const withWitness = Object.assign({witness: this.options.witness}, options);
        return ensure.call(this, withWitness);
    };
}

// Fix 6 is an option, not code: the wallet ignores --prefix and keeps its
// database in ~/.bcoin unless --wallet-prefix names the folder; stack.sh
// passes --wallet-prefix=<prefix>/regtest.

const FullNode = bcoin.FullNode;
const node = new FullNode({
    config: true,
    argv: true,
    env: true,
    logFile: true,
    logConsole: false,
    logLevel: 'info',
    memory: false,
    workers: false,
    listen: false,
    loader: require,
});
if (!node.config.bool('no-wallet') && !node.has('walletdb')) {
    node.use(require('bcoin/lib/wallet/plugin'));
}

process.on('unhandledRejection', (err) => {
    throw err;
});
for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => {
        node.close()
            .then(() => process.exit(0))
            .catch((err) => {
                console.error(`bmm-bcoin: close failed: ${err.stack}`);
                process.exit(1);
            });
    });
}

// Unlike bin/node, no node.connect() and startSync(): the stack's node has
// no peers (regtest, one node; bcoin refuses max-outbound 0), so it neither
// listens nor dials out. Regtest lets getblocktemplate run without peers.
(async () => {
    await node.ensure();
    await node.open();
})().catch((err) => {
    console.error(`bmm-bcoin: start failed: ${err.stack}`);
    process.exit(1);
});
