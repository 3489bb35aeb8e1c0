-- Ardour (ardour7-lua, Dummy backend): one session's Salve instances share one fleet thread.
-- Adds FLEET_TRACKS tracks (24 unless set) with a Salve each, plays at 64-sample buffers,
-- counts the threads of this process named `salve-fleet` (one, however many instances), then
-- removes every Salve and waits for the thread to end.
backend = AudioEngine:set_backend("None (Dummy)", "", "")
AudioEngine:set_device_name("Sine Wave")
AudioEngine:set_buffer_size(64)
s = create_session(os.getenv("SESSION_DIR") .. "-fleet", "salve-fleet", 48000)
assert(s, "no session")

-- This process's id: the first field of /proc/self/stat.
local stat = io.open("/proc/self/stat"):read("*l")
local pid = stat:match("^(%d+)")

-- Threads of this process whose name is `name`, and all of them.
local function threads(name)
  local named, all = 0, 0
  local list = io.popen("cat /proc/" .. pid .. "/task/*/comm 2>/dev/null")
  for comm in list:lines() do
    all = all + 1
    if comm == name then named = named + 1 end
  end
  list:close()
  return named, all
end

local _, before = threads("salve-fleet")
local n = tonumber(os.getenv("FLEET_TRACKS") or "24")
local plugins = {}
for i = 1, n do
  local tl = s:new_audio_track(2, 2, nil, 1, "Salve " .. i, ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
  local t = tl:front()
  local p = ARDOUR.LuaAPI.new_plugin(s, "Salve", ARDOUR.PluginType.VST3, "")
  assert(not p:isnil(), "plugin did not load")
  t:add_processor_by_index(p, 0, nil, true)
  local io = t:input()
  io:disconnect_all(nil)
  io:connect(io:nth(0), "system:capture_1", nil)
  io:connect(io:nth(1), "system:capture_2", nil)
  plugins[i] = { t = t, p = p }
end
s:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(3000000)
local fleet, all = threads("salve-fleet")
print("instances", n, "buffer", backend:buffer_size(), "rolling", s:transport_rolling(),
  "dsp load", AudioEngine:get_dsp_load())
print("threads before", before, "with the instances", all, "named salve-fleet", fleet)
assert(fleet == 1, "expected one salve-fleet thread, found " .. fleet)
s:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(300000)

-- Removing a plugin deactivates and drops it; with the last one gone the thread ends.
for _, tp in ipairs(plugins) do
  tp.t:remove_processor(tp.p, nil, true)
end
plugins = nil
collectgarbage()
local left, waited = fleet, 0
while left > 0 and waited < 2000 do
  ARDOUR.LuaAPI.usleep(10000)
  waited = waited + 10
  left = threads("salve-fleet")
end
print("after removing every Salve: named salve-fleet", left, "within ms", waited)
assert(left == 0, "the salve-fleet thread outlived its instances")
close_session()
print("done")
