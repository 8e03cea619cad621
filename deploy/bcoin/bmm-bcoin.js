#!/usr/bin/env node
// BMM pool's launcher for bcoin, the sha256d regtest node of the local stack
// (deploy/stack.sh starts it; deploy/bcoin/README.md says why bcoin).
//
// It runs bcoin's own full node as node_modules/bcoin/bin/node does, after
// small run-time fixes for bugs met with bcoin 1.0.2 on Node 20. Each wraps
// bcoin functions, calling the originals; none touches consensus code.
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

// Fix 4: `gettransaction` reads details.fee and details.confirmations, which
// the wallet's Details records do not have (they have getFee() and
// getDepth(height)): a send failed, and no answer had its confirmations.
// Give them the fields.
{
    const Wallet = require('bcoin/lib/wallet/wallet');
    const toDetails = Wallet.prototype.toDetails;
    const withFields = (d, height) => {
        if (d && d.fee === undefined && typeof d.getFee === 'function') d.fee = d.getFee();
        if (d && d.confirmations === undefined && typeof d.getDepth === 'function') d.confirmations = d.getDepth(height);
        return d;
    };
    Wallet.prototype.toDetails = async function (wtxs) {
        const details = await toDetails.call(this, wtxs);
        const height = this.wdb.state.height;
        return Array.isArray(details) ? details.map((d) => withFields(d, height)) : withFields(details, height);
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

// Fix 6: blocks off the main chain answer as in Bitcoin Core, which the
// pool's block tracker relies on (confirmations -1: orphaned, its rewards
// reversed). bcoin answers a block of a side chain with positive
// confirmations (height difference), and invalidateblock deletes the block
// and its descendants (a reset), after which getblockheader says "Block not
// found" with code -1. So: a side-chain entry gets confirmations -1; the
// headers invalidateblock removes are kept (<prefix>/bmm-invalidated.json)
// and answered with confirmations -1; an unknown block is error -5, as Core.
{
    const fs = require('fs');
    const NodeRPC = require('bcoin/lib/node/rpc');
    const {RPCError} = require('bweb');
    const {revHex} = require('bcoin/lib/utils/util');
    const keptFile = (rpc) => path.join(rpc.node.config.prefix, 'bmm-invalidated.json');
    const loadKept = (rpc) => {
        try {
            return JSON.parse(fs.readFileSync(keptFile(rpc), 'utf8'));
        } catch (err) {
            if (err.code === 'ENOENT') return {};
            throw err;
        }
    };
    const saveKept = (rpc, kept) => {
        fs.writeFileSync(keptFile(rpc) + '.tmp', JSON.stringify(kept));
        fs.renameSync(keptFile(rpc) + '.tmp', keptFile(rpc));
    };
    const offMain = async (rpc, entry, json) => {
        if (!(await rpc.chain.isMainChain(entry))) json.confirmations = -1;
        return json;
    };
    const headerToJSON = NodeRPC.prototype.headerToJSON;
    NodeRPC.prototype.headerToJSON = async function (entry) {
        return offMain(this, entry, await headerToJSON.call(this, entry));
    };
    const blockToJSON = NodeRPC.prototype.blockToJSON;
    NodeRPC.prototype.blockToJSON = async function (entry, block, details) {
        return offMain(this, entry, await blockToJSON.call(this, entry, block, details));
    };
    const invalidateBlock = NodeRPC.prototype.invalidateBlock;
    NodeRPC.prototype.invalidateBlock = async function (args, help) {
        const hash = Array.isArray(args) && typeof args[0] === 'string' ? args[0] : '';
        const removed = [];
        if (/^[0-9a-f]{64}$/i.test(hash)) {
            // bcoin 1.0.2 keys blocks by hex strings in internal byte order.
            const entry = await this.chain.getEntry(revHex(hash.toLowerCase()));
            if (entry && (await this.chain.isMainChain(entry))) {
                for (let h = entry.height; h <= this.chain.height; h++) {
                    removed.push(await this.headerToJSON(await this.chain.getEntry(h)));
                }
            }
        }
        const result = await invalidateBlock.call(this, args, help);
        if (removed.length > 0) {
            const kept = loadKept(this);
            for (const json of removed) kept[json.hash] = Object.assign(json, {confirmations: -1, nextblockhash: null});
            saveKept(this, kept);
        }
        return result;
    };
    const getBlockHeader = NodeRPC.prototype.getBlockHeader;
    NodeRPC.prototype.getBlockHeader = async function (args, help) {
        try {
            return await getBlockHeader.call(this, args, help);
        } catch (err) {
            if (!/^Block not found/.test(err.message)) throw err;
            const kept = loadKept(this)[String(args[0]).toLowerCase()];
            if (kept && args[1] !== false) return kept;
            throw new RPCError(-5, 'Block not found');
        }
    };
}

// Fix 7: a long poll (getblocktemplate with longpollid) answers when the tip
// goes back too, as in Bitcoin Core. bcoin wakes its long polls only when a
// block is connected, so after invalidateblock a pool kept its job on the
// invalidated tip, and every block it found was refused ("duplicate":
// invalid ancestor) while nothing new could be connected.
{
    const NodeRPC = require('bcoin/lib/node/rpc');
    const bindChain = NodeRPC.prototype.bindChain;
    NodeRPC.prototype.bindChain = function () {
        const first = !this.boundChain;
        bindChain.call(this);
        if (first) {
            this.node.on('reset', () => {
                if (this.attempt) this.refreshBlock();
            });
        }
    };
}

// Fix 9 (payouts): sendrawtransaction answers as Bitcoin Core's does. bcoin's
// only relays the transaction and always answers its txid, even when its own
// mempool refused it; bmm-payout must know (a payout refused is not sent).
// The mempool's verdict is given with Core's codes and words: already in the
// mempool or the chain -27; an input missing or spent in the chain
// (bcoin keeps such a transaction as an orphan) -25 "missing-inputs"; an
// input spent by a mempool transaction -26 "txn-mempool-conflict"; any other
// refusal -26 with bcoin's reason.
{
    const NodeRPC = require('bcoin/lib/node/rpc');
    const TX = require('bcoin/lib/primitives/tx');
    const {RPCError} = require('bweb');
    const sendRawTransaction = NodeRPC.prototype.sendRawTransaction;
    NodeRPC.prototype.sendRawTransaction = async function (args, help) {
        const hex = Array.isArray(args) ? args[0] : undefined;
        if (help || !this.mempool || typeof hex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(hex)) {
            return sendRawTransaction.call(this, args, help);
        }
        const tx = TX.fromRaw(Buffer.from(hex, 'hex'));
        let missing;
        try {
            missing = await this.mempool.addTX(tx);
        } catch (err) {
            if (err.type !== 'VerifyError') throw err;
            if (err.code === 'alreadyknown') throw new RPCError(-27, err.reason);
            if (err.reason === 'bad-txns-inputs-spent') throw new RPCError(-26, 'txn-mempool-conflict');
            throw new RPCError(-26, `${err.reason} (${err.code})`);
        }
        if (missing) {
            this.mempool.removeOrphan(tx.hash('hex'));
            throw new RPCError(-25, 'missing-inputs');
        }
        this.node.broadcast(tx);
        return tx.txid();
    };
}

// Fix 10 (payouts): the wallet signs a raw transaction. bcoin 1.0.2's wallet
// RPC has no signing call (its node's signrawtransaction takes private keys;
// its wallet signs only over its REST API, POST /wallet/:id/sign). This adds
// Bitcoin Core's `signrawtransactionwithwallet "hex"` on the wallet's RPC
// server, doing what that REST call does: the wallet's coins as the view,
// the wallet's keys (unlocked by walletpassphrase when encrypted), SIGHASH_ALL.
// Answer as Core: {hex, complete}.
{
    const MTX = require('bcoin/lib/primitives/mtx');
    const {RPCError} = require('bweb');
    WalletRPC.prototype.signRawTransactionWithWallet = async function (args, help) {
        if (help || !Array.isArray(args) || args.length !== 1 || typeof args[0] !== 'string' ||
            !/^([0-9a-fA-F]{2})+$/.test(args[0])) {
            throw new RPCError(-1, 'signrawtransactionwithwallet "hexstring"');
        }
        const wallet = this.wallet;
        const mtx = MTX.fromRaw(Buffer.from(args[0], 'hex'));
        mtx.view = await wallet.getCoinView(mtx);
        try {
            await wallet.sign(mtx);
        } catch (err) {
            if (/passphrase|locked/i.test(err.message)) {
                throw new RPCError(-13, 'Error: Please enter the wallet passphrase with walletpassphrase first.');
            }
            throw err;
        }
        return {hex: mtx.toRaw().toString('hex'), complete: mtx.isSigned()};
    };
    const init = WalletRPC.prototype.init;
    WalletRPC.prototype.init = function () {
        init.call(this);
        this.add('signrawtransactionwithwallet', this.signRawTransactionWithWallet);
    };
}

// Fix 11 (payouts): getwalletinfo has unlocked_until only for an encrypted
// wallet, as in Core (bcoin gives 0 for a wallet that is not encrypted,
// which reads as "encrypted and locked").
{
    const getWalletInfo = WalletRPC.prototype.getWalletInfo;
    WalletRPC.prototype.getWalletInfo = async function (args, help) {
        const info = await getWalletInfo.call(this, args, help);
        if (this.wallet && this.wallet.master && !this.wallet.master.encrypted) delete info.unlocked_until;
        return info;
    };
}

// Fix 8 is an option, not code: the wallet ignores --prefix and keeps its
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

// As bin/node: connect and sync, although the stack's node has no peers
// (stack.sh: listen false, only a local port nobody listens on; bcoin
// refuses max-outbound 0). Without a connected pool, the chain's reset
// (invalidateblock) throws "Pool is not connected!" before the mempool and
// the wallet follow it, and every template after it fails.
(async () => {
    await node.ensure();
    await node.open();
    await node.connect();
    node.startSync();
})().catch((err) => {
    console.error(`bmm-bcoin: start failed: ${err.stack}`);
    process.exit(1);
});
