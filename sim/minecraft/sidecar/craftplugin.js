'use strict'
// A flying-squid plugin standing in for the crafting and furnace windows flying-squid does not
// implement (it never answers a window click). It adds two commands and announces them to each
// player on spawn, so the sidecar uses them only on a server that has them:
//   /craft <item> [count]                    crafts from the player's inventory with a
//                                            minecraft-data recipe (a crafting table within
//                                            reach when the recipe needs a 3x3 grid)
//   /smelt <input> <output> <count> <fuel> <fuel_count>   with a furnace within reach
// Each replies with one line `steve:craft ok ...` or `steve:craft error <kind> <message>`.
// Never used against a real (vanilla, Paper) server: there the sidecar clicks real windows.

const Vec3 = require('vec3').Vec3

const ANNOUNCE = 'steve:plugin craft smelt'
const REACH = 5 // blocks: how far a station may be (vanilla allows using windows within 8)

function nearBlock (player, serv, name) {
  const id = serv.registry.blocksByName[name].id
  const p = player.position.floored()
  for (let dx = -REACH; dx <= REACH; dx++) {
    for (let dy = -REACH; dy <= REACH; dy++) {
      for (let dz = -REACH; dz <= REACH; dz++) {
        const at = p.plus(new Vec3(dx, dy, dz))
        const state = player.world.sync.getBlockStateId(at)
        const block = serv.registry.blocksByStateId[state]
        if (block && block.id === id) return true
      }
    }
  }
  return false
}

function counts (player) {
  const out = {}
  for (const item of player.inventory.slots) {
    if (item && item.slot >= 9 && item.slot <= 44) out[item.type] = (out[item.type] || 0) + item.count
  }
  return out
}

function take (player, type, n) {
  for (const item of player.inventory.slots) {
    if (n <= 0) break
    if (!item || item.type !== type || item.slot < 9 || item.slot > 44) continue
    const used = Math.min(n, item.count)
    n -= used
    item.count -= used
    player.inventory.updateSlot(item.slot, item.count > 0 ? item : null)
  }
}

function give (player, serv, type, n) {
  const Item = require('prismarine-item')(serv.registry)
  const stack = serv.registry.items[type].stackSize
  while (n > 0) {
    const slot = player.inventory.slots.find(i => i && i.type === type && i.slot >= 9 && i.count < stack)
    if (slot) {
      const add = Math.min(n, stack - slot.count)
      slot.count += add
      n -= add
      player.inventory.updateSlot(slot.slot, slot)
      continue
    }
    const empty = player.inventory.firstEmptyInventorySlot()
    if (empty === null || empty === undefined) return false
    const add = Math.min(n, stack)
    player.inventory.updateSlot(empty, new Item(type, add))
    n -= add
  }
  return true
}

function ingredients (recipe) {
  const used = recipe.inShape ? recipe.inShape.flat() : recipe.ingredients
  const need = {}
  for (const id of used) if (id !== null && id !== undefined) need[id] = (need[id] || 0) + 1
  return need
}

function needsTable (recipe) {
  if (!recipe.inShape) return recipe.ingredients.length > 4
  const rows = recipe.inShape.filter(r => r.some(c => c !== null && c !== undefined))
  const width = Math.max(...recipe.inShape.map(r => {
    const cols = r.map((c, i) => (c !== null && c !== undefined ? i : -1)).filter(i => i >= 0)
    return cols.length ? cols[cols.length - 1] - cols[0] + 1 : 0
  }))
  return rows.length > 2 || width > 2
}

function craft (player, serv, name, count) {
  const item = serv.registry.itemsByName[name]
  if (!item) return `error invalid unknown item ${name}`
  const recipes = serv.registry.recipes[item.id] || []
  if (!recipes.length) return `error no_recipe nothing crafts ${name}`
  const have = counts(player)
  let shortest = null
  for (const recipe of recipes) {
    const times = Math.ceil(count / recipe.result.count)
    const need = ingredients(recipe)
    const missing = Object.entries(need).filter(([id, n]) => (have[id] || 0) < n * times)
    if (missing.length) {
      if (!shortest) shortest = missing.map(([id, n]) => `${serv.registry.items[id].name}x${n * times - (have[id] || 0)}`)
      continue
    }
    if (needsTable(recipe) && !nearBlock(player, serv, 'crafting_table')) {
      return 'error no_station crafting_table'
    }
    for (const [id, n] of Object.entries(need)) take(player, Number(id), n * times)
    give(player, serv, item.id, recipe.result.count * times)
    return `ok ${recipe.result.count * times} ${name}`
  }
  return `error missing ${shortest.join(',')}`
}

function smelt (player, serv, args, cookMs) {
  const [input, output, count, fuel, fuelCount] = args
  const ids = [input, output, fuel].map(n => serv.registry.itemsByName[n])
  if (ids.some(i => !i)) return Promise.resolve(`error invalid unknown item in ${args.join(' ')}`)
  if (!nearBlock(player, serv, 'furnace')) return Promise.resolve('error no_station furnace')
  const have = counts(player)
  const n = parseInt(count, 10)
  const f = parseInt(fuelCount, 10)
  if ((have[ids[0].id] || 0) < n) return Promise.resolve(`error missing ${input}x${n - (have[ids[0].id] || 0)}`)
  if ((have[ids[2].id] || 0) < f) return Promise.resolve(`error no_fuel ${fuel}x${f - (have[ids[2].id] || 0)}`)
  take(player, ids[0].id, n)
  take(player, ids[2].id, f)
  // a furnace cooks one item per 10 s; the plugin keeps that pace unless told otherwise
  return new Promise(resolve => setTimeout(() => {
    give(player, serv, ids[1].id, n)
    resolve(`ok ${n} ${output}`)
  }, cookMs * n))
}

module.exports = function makePlugin ({ cookMs = 10000 } = {}) {
  return {
    server (serv) {
      serv.commands.add({
        base: 'craft',
        info: 'craft an item from the inventory (steve test plugin)',
        usage: '/craft <item> [count]',
        onlyPlayer: true,
        parse (str) {
          const [name, count] = str.trim().split(/\s+/)
          return name ? { name, count: parseInt(count || '1', 10) || 1 } : false
        },
        action ({ name, count }, ctx) {
          ctx.player.chat('steve:craft ' + craft(ctx.player, serv, name, count))
        }
      })
      serv.commands.add({
        base: 'smelt',
        info: 'smelt with a furnace within reach (steve test plugin)',
        usage: '/smelt <input> <output> <count> <fuel> <fuel_count>',
        onlyPlayer: true,
        parse (str) {
          const args = str.trim().split(/\s+/)
          return args.length === 5 ? args : false
        },
        async action (args, ctx) {
          ctx.player.chat('steve:smelt ' + await smelt(ctx.player, serv, args, cookMs))
        }
      })
    },
    player (player) {
      player.on('spawned', () => setTimeout(() => player.chat(ANNOUNCE), 50))
    }
  }
}
module.exports.ANNOUNCE = ANNOUNCE
