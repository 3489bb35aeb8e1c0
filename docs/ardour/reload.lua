-- Ardour (ardour7-lua): reloads the session record.lua saved, prints each Salve's restored
-- Drive and Oversampling, and plays the takes through them (post-fader peaks).
backend = AudioEngine:set_backend("None (Dummy)", "", "")
AudioEngine:set_device_name("Silence")
s = load_session(os.getenv("SESSION_DIR"), "salve-check")
assert(s, "no session")
local i = 0
for r in s:get_routes():iter() do
  local t = r:to_track()
  if not t:isnil() then
    i = i + 1
    local p = r:nth_plugin(0)
    local drive = ARDOUR.LuaAPI.get_processor_param(p, 1, true)
    local os_choice = ARDOUR.LuaAPI.get_processor_param(p, 7, true)
    print("track", r:name(), "plugin", p:display_name(), "drive", drive, "oversampling", os_choice)
    if r:name() == "Salve 1" then
      assert(math.abs(drive - 10.0) < 1e-3 and os_choice == 3, "track 1's settings were not restored")
    end
    t:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
    r:set_meter_point(ARDOUR.MeterPoint.MeterPostFader)
  end
end
ARDOUR.LuaAPI.usleep(300000)
s:request_locate(0, false, ARDOUR.LocateTransportDisposition.MustStop, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(300000)
s:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(1500000)
local peaks = {}
for r in s:get_routes():iter() do
  if not r:to_track():isnil() then
    peaks[r:name()] = r:peak_meter():meter_level(0, ARDOUR.MeterType.MeterPeak)
    print("playing", r:name(), "peak post-fader dBFS", peaks[r:name()])
  end
end
-- The same take, +20 dB of drive against +6: Salve 1 plays louder.
assert(peaks["Salve 1"] > peaks["Salve 2"] + 6, "the restored drive is not heard")
s:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(300000)
close_session()
print("done")
