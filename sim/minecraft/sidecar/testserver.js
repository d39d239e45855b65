'use strict'
// A local flying-squid server for tests and `start_server`: offline mode on 127.0.0.1, a
// superflat world (grass at y=4) with a fixed spawn and trees planted around it by /setblock
// commands (the generator grows none), and the /craft and /smelt plugin (craftplugin.js).
//   node testserver.js --port 25565 [--version 1.16.5] [--seed 0] [--trees 8] [--no-plugin]
//                      [--cook-ms 10000]
// Prints one JSON line {"event":"ready","port":...,"spawn":[x,y,z],"trees":[[x,z],...]}
// on stdout when players may join; exits when stdin closes or its parent dies.

const { watchParent } = require('./lifeline')

// flying-squid logs to stdout: keep stdout for the one ready line
const rawWrite = process.stdout.write.bind(process.stdout)
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest)
const emit = (obj) => rawWrite(JSON.stringify(obj) + '\n')
console.log = (...args) => process.stderr.write(args.join(' ') + '\n')
console.info = console.log

function parseArgs (argv) {
  const opts = { port: 25565, version: '1.16.5', seed: 0, trees: 8, plugin: true, cookMs: 10000 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--no-plugin') opts.plugin = false
    else if (a === '--port') opts.port = parseInt(argv[++i], 10)
    else if (a === '--version') opts.version = argv[++i]
    else if (a === '--seed') opts.seed = parseInt(argv[++i], 10)
    else if (a === '--trees') opts.trees = parseInt(argv[++i], 10)
    else if (a === '--cook-ms') opts.cookMs = parseInt(argv[++i], 10)
    else throw new Error('unknown argument ' + a)
  }
  return opts
}

const SPAWN = [0, 5, 0] // the feet of a player standing on the grass at the origin
const GROUND = 4

// a small seeded generator (mulberry32): the same seed plants the same trees
function rng (seed) {
  let a = (seed + 0x6d2b79f5) >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function treeSpots (seed, n) {
  const r = rng(seed)
  const spots = []
  while (spots.length < n) {
    const angle = r() * 2 * Math.PI
    const dist = 5 + r() * 9
    const x = Math.round(SPAWN[0] + dist * Math.cos(angle))
    const z = Math.round(SPAWN[2] + dist * Math.sin(angle))
    if (spots.every(([sx, sz]) => Math.abs(sx - x) + Math.abs(sz - z) >= 4)) spots.push([x, z])
  }
  return spots
}

function treeCommands (x, z) {
  const cmds = []
  for (let y = GROUND + 1; y <= GROUND + 4; y++) cmds.push(`setblock ${x} ${y} ${z} oak_log 1`)
  for (const [dx, dz] of [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]]) {
    cmds.push(`setblock ${x + dx} ${GROUND + 5} ${z + dz} oak_leaves`)
  }
  return cmds
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  const mcServer = require('flying-squid')
  const makePlugin = require('./craftplugin')
  const plugins = {}
  const serv = mcServer.createMCServer({
    motd: 'steve-evolving test server',
    port: opts.port,
    host: '127.0.0.1',
    'max-players': 4,
    'online-mode': false,
    logging: false,
    gameMode: 0,
    difficulty: 0,
    generation: { name: 'superflat', options: { worldHeight: 80 } },
    kickTimeout: 10000,
    plugins,
    modpe: false,
    'view-distance': 4,
    'everybody-op': true,
    'max-entities': 100,
    'player-list-text': { header: { text: 'steve-evolving' }, footer: { text: 'test server' } },
    version: opts.version
  })
  serv.on('error', (err) => { process.stderr.write('server error: ' + err + '\n'); process.exit(3) })
  await serv.waitForReady(15000)
  if (opts.plugin) serv.addPlugin('steve-craft', makePlugin({ cookMs: opts.cookMs }), {})
  serv.getSpawnPoint = async () => new (require('vec3').Vec3)(SPAWN[0] + 0.5, SPAWN[1], SPAWN[2] + 0.5)
  const trees = treeSpots(opts.seed, opts.trees)
  for (const [x, z] of trees) {
    for (const cmd of treeCommands(x, z)) await serv.commands.use(cmd)
  }
  emit({ event: 'ready', port: opts.port, version: opts.version, spawn: SPAWN, trees, plugin: opts.plugin })
}

watchParent(() => process.exit(0))
process.stdin.resume()
main().catch((err) => { process.stderr.write('testserver: ' + (err.stack || err) + '\n'); process.exit(2) })
