'use strict'
// The Node side of the minecraft/v1 world: one mineflayer bot behind JSON-lines RPC on stdio.
//
// Requests (one JSON object a line on stdin):   {"id": 7, "method": "mine", "params": {...}}
// Replies (one a line on stdout):                {"id": 7, "result": {...}}
//                                                {"id": 7, "error": {"kind", "message", "data", "trace"}}
// Unsolicited event lines (no id):              {"event": "death" | "damage" | "end" | ...}
//
// The bot does what a verb says and reports what happened in the project's trace vocabulary
// (sim/events.py: walk, dig, craft, smelt, place, gui_error, ...). Deciding what a failure
// means (its cause, what was missing, the remedy) is the Python world's job; the `kind` of an
// error here is only the low-level fact (no_path, gui, not_found, timeout, ...).
// stdout carries nothing but RPC lines: libraries that print are sent to stderr.

const { watchParent } = require('./lifeline')

const rawWrite = process.stdout.write.bind(process.stdout)
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest)
console.log = (...args) => process.stderr.write(args.join(' ') + '\n')
console.info = console.log
const send = (obj) => rawWrite(JSON.stringify(obj) + '\n')
const event = (name, data = {}) => send({ event: name, ...data })

const mineflayer = require('mineflayer')
const { pathfinder, Movements, goals } = require('mineflayer-pathfinder')
const collectBlock = require('mineflayer-collectblock').plugin
const { Vec3 } = require('vec3')

const ANNOUNCE = 'steve:plugin '
const SIGHT = 16

class VerbError extends Error {
  constructor (kind, message, data = {}) {
    super(message)
    this.kind = kind
    this.data = data
  }
}

let bot = null
let plugin = new Set() // commands the server announced (the test server's craft and smelt)
let lastHealth = 20
const chatWaiters = []

// ---- helpers ------------------------------------------------------------------------------

function need (cond, kind, message, data) { if (!cond) throw new VerbError(kind, message, data) }

function connected () {
  need(bot && bot.entity, 'not_connected', 'the bot is not connected')
  return bot
}

function withTimeout (promise, ms, kind, message, data) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new VerbError(kind, message, data)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
const pos3 = (v) => [Math.floor(v.x), Math.floor(v.y), Math.floor(v.z)]

function inventory () {
  const out = {}
  for (const item of bot.inventory.items()) out[item.name] = (out[item.name] || 0) + item.count
  return out
}

function delta (before, after) {
  const out = {}
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[name] || 0) - (before[name] || 0)
    if (d) out[name] = d
  }
  return out
}

function itemId (name) {
  const item = bot.registry.itemsByName[name]
  need(item, 'invalid', `unknown item ${name}`, { what: 'item', name })
  return item.id
}

function blockId (name) {
  const block = bot.registry.blocksByName[name]
  need(block, 'invalid', `unknown block ${name}`, { what: 'block', name })
  return block.id
}

function movements (canDig = true) {
  const moves = new Movements(bot)
  moves.canDig = canDig
  moves.scafoldingBlocks = [] // never spend the agent's blocks on pillars: plans count them
  moves.allowSprinting = true
  return moves
}

// Walk until `goal` holds; a path that cannot be found or followed is `no_path`.
async function goto (goal, ms, trace, canDig = true) {
  const start = bot.entity.position.clone()
  bot.pathfinder.setMovements(movements(canDig))
  try {
    await withTimeout(bot.pathfinder.goto(goal), ms, 'timeout', `walking took more than ${ms} ms`)
  } catch (err) {
    bot.pathfinder.stop()
    bot.pathfinder.setGoal(null)
    if (err instanceof VerbError) throw err
    throw new VerbError('no_path', `no path: ${err.message}`, { error: err.name })
  }
  // goto resolves on an empty path even when nothing was reached
  need(goal.isEnd(bot.entity.position.floored()), 'no_path', 'the path ended short of the goal')
  const dist = bot.entity.position.distanceTo(start)
  if (dist > 0.5) trace.push({ event: 'walk', to: pos3(bot.entity.position), distance: Math.round(dist * 10) / 10 })
}

function findBlocks (name, radius, count) {
  return bot.findBlocks({ matching: blockId(name), maxDistance: radius, count })
    .sort((a, b) => a.distanceTo(bot.entity.position) - b.distanceTo(bot.entity.position))
}

function nearestEntity (name, radius) {
  return bot.nearestEntity(e => e.name === name && e !== bot.entity &&
    e.position.distanceTo(bot.entity.position) <= radius)
}

// Pick up what lies within a few blocks (drops of a dug block or a killed mob).
async function pickUp (around, ms) {
  await bot.waitForTicks(6)
  const drops = Object.values(bot.entities).filter(e =>
    (e.name === 'item' || e.objectType === 'Item' || e.displayName === 'Item') &&
    e.position.distanceTo(around) <= 4)
  for (const drop of drops) {
    try {
      await withTimeout(bot.collectBlock.collect(drop, { ignoreNoPath: true }), ms, 'timeout', 'pickup')
    } catch (err) { /* out of reach or already taken: what reached the inventory counts */ }
  }
}

function chatReply (prefix, ms) {
  return new Promise((resolve, reject) => {
    const waiter = { prefix, resolve }
    chatWaiters.push(waiter)
    setTimeout(() => {
      const i = chatWaiters.indexOf(waiter)
      if (i >= 0) chatWaiters.splice(i, 1)
      reject(new VerbError('gui', `no reply to ${prefix.trim()} within ${ms} ms`, { window: prefix.trim() }))
    }, ms)
  })
}

// ---- connection ---------------------------------------------------------------------------

async function connect ({ host = '127.0.0.1', port = 25565, version = '1.16.5', username = 'steve', timeout_ms: ms = 15000, announce_ms: announceMs = 750 }) {
  if (bot) { try { bot.quit() } catch (e) {} bot = null }
  plugin = new Set()
  const b = mineflayer.createBot({ host, port, version, username, auth: 'offline', hideErrors: true, logErrors: false })
  b.loadPlugin(pathfinder)
  b.loadPlugin(collectBlock)
  b.on('messagestr', (msg) => {
    if (msg.startsWith(ANNOUNCE)) plugin = new Set(msg.slice(ANNOUNCE.length).trim().split(/\s+/))
    for (const w of [...chatWaiters]) {
      if (msg.startsWith(w.prefix)) { chatWaiters.splice(chatWaiters.indexOf(w), 1); w.resolve(msg.slice(w.prefix.length)) }
    }
  })
  const ready = new Promise((resolve, reject) => {
    b.once('spawn', resolve)
    b.once('error', (err) => reject(new VerbError('connect', String(err.message || err), { code: err.code })))
    b.once('kicked', (reason) => reject(new VerbError('connect', 'kicked: ' + JSON.stringify(reason))))
    b.once('end', (reason) => reject(new VerbError('connect', 'connection ended: ' + reason)))
  })
  try {
    await withTimeout(ready, ms, 'connect', `no spawn within ${ms} ms`)
  } catch (err) {
    try { b.end() } catch (e) {}
    throw err
  }
  bot = b
  lastHealth = b.health
  b.on('health', () => {
    if (b.health < lastHealth) event('damage', { damage: Math.round((lastHealth - b.health) * 10) / 10, health: b.health })
    lastHealth = b.health
  })
  b.on('death', () => event('death', { source: 'unknown' }))
  b.on('kicked', (reason) => event('kicked', { reason: String(reason) }))
  b.on('error', (err) => event('error', { message: String(err.message || err) }))
  b.on('end', (reason) => { if (bot === b) bot = null; event('end', { reason: String(reason) }) })
  try { await withTimeout(b.waitForChunksToLoad(), ms, 'connect', 'chunks did not load') } catch (e) {}
  const until = Date.now() + announceMs
  while (!plugin.size && Date.now() < until) await sleep(25)
  return { username: b.username, version: b.version, position: pos3(b.entity.position), plugin: [...plugin] }
}

// ---- state --------------------------------------------------------------------------------

function exposed (p) {
  for (const [dx, dy, dz] of [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]) {
    const b = bot.blockAt(p.offset(dx, dy, dz))
    if (!b || b.boundingBox === 'empty' || b.transparent) return true
  }
  return false
}

function state ({ names = [], radius = SIGHT }) {
  connected()
  const ids = names.map(n => bot.registry.blocksByName[n]).filter(Boolean).map(b => b.id)
  const nearby = {}
  if (ids.length) {
    for (const p of bot.findBlocks({ matching: ids, maxDistance: radius, count: 4096 })) {
      if (!exposed(p)) continue
      const name = bot.blockAt(p).name
      nearby[name] = (nearby[name] || 0) + 1
    }
  }
  const entities = {}
  for (const e of Object.values(bot.entities)) {
    if (e === bot.entity || !e.name || e.type === 'player' || e.name === 'item') continue
    if (e.position.distanceTo(bot.entity.position) > radius) continue
    entities[e.name] = (entities[e.name] || 0) + 1
  }
  const durability = {}
  for (const item of bot.inventory.items()) {
    if (item.maxDurability) durability[item.name] = item.maxDurability - (item.durabilityUsed || 0)
  }
  return {
    inventory: inventory(),
    equipped: bot.heldItem ? bot.heldItem.name : null,
    durability,
    position: pos3(bot.entity.position),
    health: bot.health,
    food: bot.food,
    time_of_day: bot.time.timeOfDay,
    age: bot.time.age,
    nearby_blocks: nearby,
    nearby_entities: entities,
    dead: bot.health <= 0,
    plugin: [...plugin]
  }
}

// ---- verbs --------------------------------------------------------------------------------

// Hold what the agent equipped, or nothing: mineflayer puts picked-up items in the held slot,
// and digging with whatever happens to be there would be a tool nobody chose.
async function hold (name) {
  const item = name && bot.inventory.items().find(i => i.name === name)
  if (item) { if (!bot.heldItem || bot.heldItem.name !== name) await bot.equip(item, 'hand'); return name }
  if (!bot.heldItem) return null
  for (let slot = 0; slot < 9; slot++) {
    if (!bot.inventory.slots[bot.inventory.hotbarStart + slot]) { bot.setQuickBarSlot(slot); return null }
  }
  await bot.unequip('hand')
  return null
}

async function mine ({ block, count = 1, radius = 32, hold: held = null, auto_equip: autoEquip = false, timeout_ms: ms = 60000 }, trace) {
  connected()
  const deadline = Date.now() + ms
  const left = () => Math.max(1, deadline - Date.now())
  const got = {}
  for (let n = 0; n < count; n++) {
    const spots = findBlocks(block, radius, 24)
    need(spots.length, 'not_found', `no ${block} within ${radius} blocks`, { target: block, radius })
    let target = null
    let lastErr = null
    for (const p of spots.slice(0, 4)) { // the nearest few: a careful miner tries another
      try {
        await goto(new goals.GoalLookAtBlock(p, bot.world, { reach: 4 }), Math.min(left(), 20000), trace)
        target = bot.blockAt(p)
        break
      } catch (err) {
        if (err.kind === 'timeout' && Date.now() >= deadline) throw err
        lastErr = err
      }
    }
    if (!target) throw lastErr
    if (autoEquip) await bot.tool.equipForBlock(target, { requireHarvest: true })
    else await hold(held)
    const tool = bot.heldItem ? bot.heldItem.name : null
    const before = inventory()
    try {
      await withTimeout(bot.dig(target, true), left(), 'timeout', `digging ${block} took too long`)
    } catch (err) {
      if (err instanceof VerbError) throw err
      throw new VerbError('dig_failed', `could not dig ${block}: ${err.message}`, { block, pos: pos3(target.position) })
    }
    await pickUp(target.position.offset(0.5, 0.5, 0.5), Math.min(left(), 8000))
    const drops = Object.fromEntries(Object.entries(delta(before, inventory())).filter(([, d]) => d > 0))
    for (const [k, d] of Object.entries(drops)) got[k] = (got[k] || 0) + d
    trace.push({ event: 'dig', block, pos: pos3(target.position), tool, drops })
  }
  return { drops: got }
}

async function moveTo ({ block, radius = 64, timeout_ms: ms = 60000 }, trace) {
  connected()
  const spots = findBlocks(block, radius, 8)
  need(spots.length, 'not_found', `no ${block} within ${radius} blocks`, { target: block, radius })
  const p = spots[0]
  await goto(new goals.GoalGetToBlock(p.x, p.y, p.z), ms, trace)
  return { at: pos3(p) }
}

async function goTo ({ x, y, z, range = 1, timeout_ms: ms = 60000 }, trace) {
  connected()
  await goto(new goals.GoalNear(x, y, z, range), ms, trace)
  return { position: pos3(bot.entity.position) }
}

async function explore ({ target, mob = false, legs = 16, leg = 32, seed = 0, toward = null, timeout_ms: ms = 120000 }, trace) {
  connected()
  const deadline = Date.now() + ms
  const found = () => mob ? nearestEntity(target, 32) : findBlocks(target, 32, 1)[0]
  let heading = ((seed * 2654435761) % 6283) / 1000
  for (let i = 0; i < legs; i++) {
    if (found()) return { legs: i }
    heading += ((((seed + i) * 40503) % 2400) / 1000) - 1.2
    const p = bot.entity.position
    // where the player saw it before (the agent's memory, [x, z]): head there first
    if (toward && Math.hypot(toward[0] - p.x, toward[1] - p.z) > 16) heading = Math.atan2(toward[1] - p.z, toward[0] - p.x)
    else toward = null
    const gx = Math.round(p.x + leg * Math.cos(heading))
    const gz = Math.round(p.z + leg * Math.sin(heading))
    try {
      await goto(new goals.GoalNearXZ(gx, gz, 3), Math.max(1, Math.min(deadline - Date.now(), 30000)), trace)
    } catch (err) {
      if (Date.now() >= deadline) throw err
      heading += Math.PI / 2 // blocked that way: turn
    }
  }
  if (found()) return { legs }
  throw new VerbError('not_found', `explored ${legs} legs without finding ${target}`, { target, legs })
}

async function craftWithPlugin (item, count, ms, trace) {
  const reply = chatReply('steve:craft ', ms)
  bot.chat(`/craft ${item} ${count}`)
  const text = await reply
  if (text.startsWith('ok')) return
  const [, kind, ...rest] = text.split(' ')
  throw new VerbError(kind === 'no_station' ? 'no_station' : kind, `the server's /craft: ${rest.join(' ') || kind}`, { via: 'plugin', station: rest[0] })
}

async function craft ({ item, count = 1, timeout_ms: ms = 20000 }, trace) {
  connected()
  const before = inventory()
  if (plugin.has('craft')) {
    await craftWithPlugin(item, count, ms, trace)
  } else {
    const id = itemId(item)
    const tables = findBlocks('crafting_table', 5, 1)
    const table = tables.length ? bot.blockAt(tables[0]) : null
    const recipes = bot.recipesFor(id, null, 1, table)
    need(recipes.length, 'no_recipe', `no recipe for ${item} that the inventory and stations allow`, { item, table: !!table })
    const recipe = recipes[0]
    const times = Math.ceil(count / recipe.result.count)
    try {
      await withTimeout(bot.craft(recipe, times, table || undefined), ms, 'gui',
        `the ${table ? 'crafting table' : 'inventory'} window did not answer within ${ms} ms`,
        { window: table ? 'crafting_table' : 'inventory' })
    } catch (err) {
      if (bot.currentWindow) try { bot.closeWindow(bot.currentWindow) } catch (e) {}
      if (err instanceof VerbError) throw err
      throw new VerbError('gui', `crafting failed: ${err.message}`, { window: table ? 'crafting_table' : 'inventory' })
    }
  }
  await bot.waitForTicks(2)
  const made = delta(before, inventory())
  need((made[item] || 0) > 0, 'gui', `crafting ${item} left the inventory without it`, { window: 'crafting', change: made })
  trace.push({ event: 'craft', item, times: count, change: made })
  return { change: made }
}

async function smelt ({ input, output, count = 1, fuel, fuel_count: fuelCount = 1, cook_ms: cookMs = 10000, timeout_ms: ms }, trace) {
  connected()
  ms = ms || count * cookMs + 15000
  const before = inventory()
  if (plugin.has('smelt')) {
    const reply = chatReply('steve:smelt ', ms)
    bot.chat(`/smelt ${input} ${output} ${count} ${fuel} ${fuelCount}`)
    const text = await reply
    if (!text.startsWith('ok')) {
      const [, kind, ...rest] = text.split(' ')
      throw new VerbError(kind, `the server's /smelt: ${rest.join(' ') || kind}`, { via: 'plugin' })
    }
  } else {
    const spots = findBlocks('furnace', 5, 1)
    need(spots.length, 'no_station', 'no furnace within reach', { station: 'furnace' })
    let furnace = null
    try {
      furnace = await withTimeout(bot.openFurnace(bot.blockAt(spots[0])), 10000, 'gui', 'the furnace window did not open', { window: 'furnace' })
      await withTimeout(furnace.putFuel(itemId(fuel), null, fuelCount), 10000, 'gui', 'the furnace took no fuel', { window: 'furnace' })
      await withTimeout(furnace.putInput(itemId(input), null, count), 10000, 'gui', 'the furnace took no input', { window: 'furnace' })
      const done = new Promise(resolve => {
        const check = () => { const out = furnace.outputItem(); if (out && out.count >= count) { furnace.removeListener('update', check); resolve() } }
        furnace.on('update', check)
        check()
      })
      await withTimeout(done, ms, 'gui', `the furnace gave no ${output} within ${ms} ms`, { window: 'furnace' })
      await withTimeout(furnace.takeOutput(), 10000, 'gui', 'could not take the furnace output', { window: 'furnace' })
    } finally {
      if (furnace) try { furnace.close() } catch (e) {}
    }
  }
  await bot.waitForTicks(2)
  const change = delta(before, inventory())
  need((change[output] || 0) > 0, 'gui', `smelting left the inventory without ${output}`, { window: 'furnace', change })
  trace.push({ event: 'smelt', item: output, runs: count, fuel: { [fuel]: fuelCount } })
  return { change }
}

// The cells beside the agent's feet and head that a block may take: free, with a solid block
// under or beside it to click on, and clear of the agent's own body.
function placeSpots () {
  const p = bot.entity.position
  const feet = p.floored()
  const out = []
  for (const dy of [0, 1]) {
    for (const [dx, dz] of [[1, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]]) {
      const cell = feet.offset(dx, dy, dz)
      const here = bot.blockAt(cell)
      if (!here || here.boundingBox !== 'empty') continue
      if (p.x + 0.3 > cell.x && p.x - 0.3 < cell.x + 1 && p.z + 0.3 > cell.z && p.z - 0.3 < cell.z + 1) continue
      for (const face of [new Vec3(0, -1, 0), new Vec3(1, 0, 0), new Vec3(-1, 0, 0), new Vec3(0, 0, 1), new Vec3(0, 0, -1)]) {
        const ref = bot.blockAt(cell.plus(face))
        if (ref && ref.boundingBox === 'block') { out.push({ cell, ref, face: face.scaled(-1) }); break }
      }
    }
  }
  return out
}

async function place ({ block, timeout_ms: ms = 10000 }, trace) {
  connected()
  const item = bot.inventory.items().find(i => i.name === block)
  need(item, 'missing', `no ${block} to place`, { item: block, need: 1, have: 0 })
  await bot.equip(item, 'hand')
  const spots = placeSpots()
  need(spots.length, 'no_space', 'no free space with something to build on next to the agent')
  let lastErr = null
  for (const { cell, ref, face } of spots.slice(0, 3)) {
    try {
      await withTimeout(bot.placeBlock(ref, face), ms, 'timeout', 'the server did not confirm the block')
      trace.push({ event: 'place', block, pos: pos3(cell) })
      return { pos: pos3(cell) }
    } catch (err) {
      lastErr = err
      const now = bot.blockAt(cell)
      if (now && now.name === block) { trace.push({ event: 'place', block, pos: pos3(cell) }); return { pos: pos3(cell) } }
    }
  }
  throw new VerbError('place_failed', `could not place ${block}: ${lastErr && lastErr.message}`, { block })
}

async function equip ({ item }, trace) {
  connected()
  const held = bot.inventory.items().find(i => i.name === item)
  need(held, 'missing', `no ${item} to equip`, { item, need: 1, have: 0 })
  await withTimeout(bot.equip(held, 'hand'), 5000, 'gui', 'equipping did not finish', { window: 'inventory' })
  trace.push({ event: 'equip', item })
  return { equipped: item }
}

async function attack ({ mob, count = 1, radius = 32, timeout_ms: ms = 60000 }, trace) {
  connected()
  const deadline = Date.now() + ms
  const before = inventory()
  for (let n = 0; n < count; n++) {
    const target = nearestEntity(mob, radius)
    need(target, 'not_found', `no ${mob} within ${radius} blocks`, { target: mob, radius })
    let hits = 0
    while (bot.entities[target.id] && target.isValid !== false) {
      need(Date.now() < deadline, 'timeout', `fighting the ${mob} took more than ${ms} ms`)
      if (target.position.distanceTo(bot.entity.position) > 3) {
        await goto(new goals.GoalFollow(target, 2), Math.min(10000, deadline - Date.now()), trace)
      }
      await bot.lookAt(target.position.offset(0, target.height * 0.8, 0), true)
      bot.attack(target)
      hits++
      await bot.waitForTicks(12) // a sword's cooldown
    }
    await pickUp(target.position, 5000)
    trace.push({ event: 'kill', mob, hits })
  }
  const drops = Object.fromEntries(Object.entries(delta(before, inventory())).filter(([, d]) => d > 0))
  trace[trace.length - 1].drops = drops
  return { drops }
}

async function eat ({ item, count = 1 }, trace) {
  connected()
  for (let n = 0; n < count; n++) {
    const food = bot.inventory.items().find(i => i.name === item)
    need(food, 'missing', `no ${item} to eat`, { item, need: 1, have: 0 })
    await bot.equip(food, 'hand')
    await withTimeout(bot.consume(), 5000, 'gui', 'eating did not finish', { window: 'use_item' })
    trace.push({ event: 'eat', item, food: bot.food })
  }
  return { food: bot.food }
}

async function wait ({ seconds = 1 }, trace) {
  connected()
  await bot.waitForTicks(Math.round(seconds * 20))
  trace.push({ event: 'wait', seconds })
  return {}
}

async function chat ({ message, reply_prefix: prefix, timeout_ms: ms = 5000 }) {
  connected()
  const reply = prefix ? chatReply(prefix, ms) : null
  bot.chat(message)
  return { reply: reply ? await reply : null }
}

async function blockAt ({ x, y, z }) {
  connected()
  const b = bot.blockAt(new Vec3(x, y, z))
  return { name: b ? b.name : null }
}

async function find ({ block, radius = 32, count = 1 }) {
  connected()
  return { positions: findBlocks(block, radius, count).map(pos3) }
}

// The blocks in a box around the bot (x, then y, then z, fastest last), named through a small
// palette, and the mobs in it: what the 3D view draws (sim/craftworld/iso.py).
function region ({ radius = 11, down = 8, up = 12 }) {
  connected()
  const c = bot.entity.position.floored()
  const origin = [c.x - radius, c.y - down, c.z - radius]
  const shape = [2 * radius + 1, down + up, 2 * radius + 1]
  const names = ['air']
  const index = { air: 0 }
  const cells = new Array(shape[0] * shape[1] * shape[2])
  let i = 0
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++) {
        const b = bot.blockAt(new Vec3(origin[0] + x, origin[1] + y, origin[2] + z))
        const name = b ? b.name : 'air'
        if (!(name in index)) { index[name] = names.length; names.push(name) }
        cells[i++] = index[name]
      }
    }
  }
  const mobs = []
  for (const e of Object.values(bot.entities)) {
    if (e === bot.entity || !e.name || e.type === 'player' || e.name === 'item') continue
    const p = e.position.floored()
    if (Math.abs(p.x - c.x) > radius || Math.abs(p.z - c.z) > radius) continue
    mobs.push([e.name, p.x, p.y, p.z])
  }
  return { origin, shape, names, cells, mobs }
}

async function disconnect () {
  if (bot) { const b = bot; bot = null; b.quit() }
  return {}
}

const VERBS = { mine, move_to: moveTo, go_to: goTo, explore, craft, smelt, place, equip, attack, eat, wait }
const CALLS = {
  ping: async () => ({ pong: true }),
  connect,
  disconnect,
  state: async (p) => state(p),
  chat,
  block_at: blockAt,
  find,
  region: async (p) => region(p)
}

// ---- the RPC loop -------------------------------------------------------------------------

async function handle (req) {
  const { id, method, params = {} } = req
  const trace = []
  const started = Date.now()
  try {
    let result
    if (VERBS[method]) {
      result = await VERBS[method](params, trace)
      result = { ...result, trace, ms: Date.now() - started }
    } else if (CALLS[method]) {
      result = await CALLS[method](params)
    } else {
      throw new VerbError('invalid', `unknown method ${method}`, { what: 'method', name: method })
    }
    send({ id, result })
  } catch (err) {
    const kind = err instanceof VerbError ? err.kind : 'internal'
    send({ id, error: { kind, message: String(err.message || err), data: err.data || {}, trace, ms: Date.now() - started } })
  }
}

let buffer = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buffer += chunk
  let nl
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl).trim()
    buffer = buffer.slice(nl + 1)
    if (!line) continue
    let req
    try { req = JSON.parse(line) } catch (err) { send({ id: null, error: { kind: 'invalid', message: 'bad JSON: ' + err.message } }); continue }
    handle(req)
  }
})

function shutdown () {
  try { if (bot) bot.quit() } catch (e) {}
  process.exit(0)
}
watchParent(shutdown)
process.on('SIGTERM', shutdown)
process.on('uncaughtException', (err) => event('error', { message: String(err.stack || err) }))
process.on('unhandledRejection', (err) => event('error', { message: String((err && err.stack) || err) }))
send({ event: 'ready', pid: process.pid })
