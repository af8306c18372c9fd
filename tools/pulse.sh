# Sourced by tools/test.sh: a PulseAudio server with one null sink, so that playback and recording run
# through the real PortAudio/ALSA path on machines without sound hardware.
start_null_sink_pulseaudio() {
  command -v pulseaudio >/dev/null || { echo "pulseaudio is not installed" >&2; return 1; }
  if ! pactl info >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then
      pulseaudio --system=false --daemonize=yes --exit-idle-time=-1 --disallow-exit -n \
        --load="module-native-protocol-unix" --load="module-null-sink sink_name=vocalis_null" \
        --load="module-always-sink" 2>/dev/null || true
    else
      pulseaudio --daemonize=yes --exit-idle-time=-1 -n --load="module-native-protocol-unix" \
        --load="module-null-sink sink_name=vocalis_null" 2>/dev/null || true
    fi
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  pactl info >/dev/null 2>&1 || { echo "could not start pulseaudio" >&2; return 1; }
  pactl list short sinks | grep -q vocalis_null || pactl load-module module-null-sink sink_name=vocalis_null >/dev/null
  pactl set-default-sink vocalis_null
  pactl set-default-source vocalis_null.monitor
}
