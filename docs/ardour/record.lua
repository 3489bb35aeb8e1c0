-- Ardour (ardour7-lua, Dummy backend): a new session with two tracks, each with Salve (VST3);
-- track 1 gets Drive +20 dB and another Oversampling choice; records the backend's sine wave
-- for 4 s, changes the buffer size while rolling (the host re-activates its plugins), saves.
backend = AudioEngine:set_backend("None (Dummy)", "", "")
AudioEngine:set_device_name("Sine Wave")
s = create_session(os.getenv("SESSION_DIR"), "salve-check", 48000)
assert(s, "no session")
print("buffer", backend:buffer_size(), "rate", backend:sample_rate())
local tracks = {}
for i = 1, 2 do
  local tl = s:new_audio_track(2, 2, nil, 1, "Salve " .. i, ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
  local t = tl:front()
  local p = ARDOUR.LuaAPI.new_plugin(s, "Salve", ARDOUR.PluginType.VST3, "")
  assert(not p:isnil(), "plugin did not load")
  t:add_processor_by_index(p, 0, nil, true)
  tracks[i] = { t = t, p = p }
end
-- Track 1: Drive up, Oversampling to another choice.
ARDOUR.LuaAPI.set_processor_param(tracks[1].p, 1, 10.0)
ARDOUR.LuaAPI.set_processor_param(tracks[1].p, 7, 3)
for i, tr in ipairs(tracks) do
  local io = tr.t:input()
  io:disconnect_all(nil)
  io:connect(io:nth(0), "system:capture_1", nil)
  io:connect(io:nth(1), "system:capture_2", nil)
  print("track", i, "in0 connected", io:nth(0):connected(), "drive", (ARDOUR.LuaAPI.get_processor_param(tr.p, 1, true)), "os", (ARDOUR.LuaAPI.get_processor_param(tr.p, 7, true)))
  tr.t:set_meter_point(ARDOUR.MeterPoint.MeterPostFader)
  tr.t:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
  ARDOUR.LuaAPI.usleep(200000)
  print("rec enabled", tr.t:rec_enable_control():get_value())
end
s:maybe_enable_record(false)
s:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(2000000)
print("rolling", s:transport_rolling(), "recording", s:actively_recording(), "record status", s:record_status())
for i, tr in ipairs(tracks) do
  print("track", i, "input peak dBFS", tr.t:peak_meter():meter_level(0, ARDOUR.MeterType.MeterPeak))
end
-- A buffer size change while running: the host deactivates and re-activates its plugins.
AudioEngine:set_buffer_size(256)
ARDOUR.LuaAPI.usleep(2000000)
print("buffer now", backend:buffer_size())
for i, tr in ipairs(tracks) do
  print("track", i, "input peak dBFS", tr.t:peak_meter():meter_level(0, ARDOUR.MeterType.MeterPeak))
end
s:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(500000)
print("dsp load", AudioEngine:get_dsp_load())
s:save_state("", false, false, false, false, false)
close_session()
print("done")
