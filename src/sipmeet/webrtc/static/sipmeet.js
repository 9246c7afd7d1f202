// sipmeet.js: join a sipmeet room from a browser. A plain ES module, no build step.
//
//   import { join } from "/sdk/sipmeet.js";
//   const meeting = await join({ roomId, token, name });      // asks for the microphone
//   meeting.addEventListener("participant-joined", (e) => console.log(e.detail));
//   meeting.setMuted(true);  meeting.setHandRaised(true);  meeting.leave();
//   // moderators (token with allow_mod; meeting.moderator is true):
//   meeting.muteParticipant(id, true);  meeting.removeParticipant(id);
//
// A Meeting is an EventTarget. Events (CustomEvent, payload in `detail`):
//   joined {participantId, participants}     participant-joined {participant}
//   participant-left {participantId}         muted / unmuted {participantId}
//   active-speaker {participantId|null}      dtmf {participantId, digit}
//   hand {participantId, raised}             removed {reason}
//   track {participantId, track, stream}     left {reason}      error {code, message}
//   reconnecting {attempt, delayMs}          reconnected {participantId}
// When the connection drops (network, server restart) the meeting rejoins by itself with
// the same microphone, backing off up to `reconnectForMs` (default 60 s) before `left`
// {reason: "connection-lost"}; it rejoins as a new participant (a new participantId).
// A removal, a refused token or room, or leave() ends it for good.
// Properties: participants (Map id -> {participantId, kind: "sip"|"webrtc", name,
//   maskedNumber, muted, handRaised, speaking}), participantId, pc (the RTCPeerConnection),
//   localStream, sipUri, muted, handRaised, moderator, candidatesSent (ICE candidates
//   trickled to the server: the offer goes out at once, candidates follow as found).
// Devices: Meeting.microphones() lists audio inputs; meeting.useMicrophone(deviceId) switches.
// ICE: the server hands out its STUN/TURN servers (`webrtc.ice_servers`) with time-limited
// TURN credentials; {iceTransportPolicy: "relay"} sends media only through TURN.
// Remote audio plays through hidden <audio> elements unless {autoplay: false}.

export class Meeting extends EventTarget {
  constructor({ roomId, token, name = "Guest", baseUrl = location.origin, autoplay = true, reconnectForMs = 60000, iceTransportPolicy = "all" }) {
    super();
    this.iceTransportPolicy = iceTransportPolicy; // "relay": media only through the server's TURN
    this.reconnectForMs = reconnectForMs;
    this._lostAt = null; // when the connection dropped (rejoining since)
    this._attempt = 0;
    this.roomId = roomId;
    this.token = token;
    this.name = name;
    this.baseUrl = baseUrl;
    this.autoplay = autoplay;
    this.participants = new Map();
    this.participantId = null;
    this.pc = null;
    this.ws = null;
    this.localStream = null;
    this.sipUri = null;
    this.muted = false;
    this.handRaised = false;
    this.moderator = false;
    this.activeSpeaker = null;
    this._mids = new Map(); // mid -> participantId (server-sent m-lines)
    this._audio = new Map(); // participantId -> <audio>
    this._queue = Promise.resolve(); // signalling messages are handled one at a time
    this._described = false; // the first description went out: candidates may follow it
    this._candidates = []; // found before that
    this.candidatesSent = 0;
  }

  static async microphones() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "audioinput");
  }

  // Connect, join with the microphone (`audio` is a getUserMedia audio constraint).
  async join({ audio = true, video = false } = {}) {
    this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
    await this._connect();
    return this;
  }

  _connect() {
    const url = new URL(`/ws/rooms/${encodeURIComponent(this.roomId)}`, this.baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", this.token);
    const ws = (this.ws = new WebSocket(url));
    this._described = false;
    this._candidates = [];
    const joined = new Promise((resolve, reject) => {
      this.addEventListener("joined", resolve, { once: true });
      ws.addEventListener("close", (e) => reject(new Error(`closed ${e.code} ${e.reason}`)), { once: true });
    });
    ws.addEventListener("open", () => this._send({ type: "join", name: this.name }));
    ws.addEventListener("message", (e) => {
      const message = JSON.parse(e.data);
      this._queue = this._queue.then(() => this._handle(message)).catch((err) => this._emit("error", { code: "client", message: String(err) }));
    });
    ws.addEventListener("close", (e) => { if (ws === this.ws) this._closed(e); });
    return joined;
  }

  // Codes after which rejoining cannot help: normal end, removal, refusals (4xxx).
  static _final(code) { return code === 1000 || (code >= 4000 && code < 5000); }

  _closed(event) {
    if (this._left) return;
    const wasJoined = this.participantId !== null && this._lostAt === null;
    if (Meeting._final(event.code) || (!wasJoined && this._lostAt === null)) {
      this._ended(event.reason || "closed");
      return;
    }
    this._lost();
  }

  // The connection dropped: tear down this session's media and rejoin with backoff.
  _lost() {
    if (this._left) return;
    if (this._lostAt === null) this._lostAt = Date.now();
    if (this.pc) { this.pc.close(); this.pc = null; }
    for (const el of this._audio.values()) el.remove();
    this._audio.clear();
    this._mids.clear();
    const departed = [...this.participants.keys()];
    this.participants.clear();
    for (const participantId of departed) this._emit("participant-left", { type: "participant-left", participantId, reason: "reconnecting" });
    if (Date.now() - this._lostAt > this.reconnectForMs) { this._ended("connection-lost"); return; }
    this._attempt += 1;
    const delayMs = Math.min(500 * 2 ** (this._attempt - 1), 8000);
    this.participantId = null;
    this._emit("reconnecting", { attempt: this._attempt, delayMs });
    setTimeout(() => this._rejoin(), delayMs);
  }

  async _rejoin() {
    if (this._left) return;
    try {
      await this._connect();
    } catch (err) {
      return; // its close event has scheduled the next attempt (or ended the meeting)
    }
    this._lostAt = null;
    this._attempt = 0;
    this._send({ type: "mute", muted: this.muted });
    if (this.handRaised) this._send({ type: "hand", raised: true });
    this._emit("reconnected", { participantId: this.participantId });
  }

  setMuted(muted) {
    this.muted = !!muted;
    for (const track of this.localStream ? this.localStream.getAudioTracks() : []) track.enabled = !this.muted;
    this._send({ type: "mute", muted: this.muted });
  }

  setHandRaised(raised) {
    this.handRaised = !!raised;
    this._send({ type: "hand", raised: this.handRaised });
  }

  // Moderators only (the server answers others with error {code: "not-allowed"}).
  muteParticipant(participantId, muted = true) {
    this._send({ type: "mute-participant", participantId, muted: !!muted });
  }

  removeParticipant(participantId) {
    this._send({ type: "remove-participant", participantId });
  }

  async useMicrophone(deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
    const track = stream.getAudioTracks()[0];
    track.enabled = !this.muted;
    const sender = this.pc.getSenders().find((s) => s.track && s.track.kind === "audio");
    if (sender) await sender.replaceTrack(track);
    for (const old of this.localStream.getAudioTracks()) { old.stop(); this.localStream.removeTrack(old); }
    this.localStream.addTrack(track);
  }

  leave() {
    this._send({ type: "leave" });
    this._ended("left");
  }

  _send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _ended(reason) {
    if (this._left) return;
    this._left = true;
    if (this.ws) this.ws.close();
    if (this.pc) this.pc.close();
    for (const track of this.localStream ? this.localStream.getTracks() : []) track.stop();
    for (const el of this._audio.values()) el.remove();
    this._emit("left", { reason });
  }

  async _localDescription(description) {
    await this.pc.setLocalDescription(description);
    return this.pc.localDescription.sdp;
  }

  // Trickle ICE: each candidate goes to the server as the browser finds it, after the
  // description it belongs to; a null candidate (gathering done) says end-of-candidates.
  _onCandidate(candidate) {
    if (candidate && !candidate.candidate) return; // the per-generation end marker
    const message = candidate
      ? { type: "candidate", candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
      : { type: "candidate", candidate: "" };
    if (!this._described) { this._candidates.push(message); return; }
    this._sendCandidate(message);
  }

  _sendCandidate(message) {
    if (message.candidate) this.candidatesSent += 1;
    this._send(message);
  }

  _describedNow() {
    this._described = true;
    for (const message of this._candidates.splice(0)) this._sendCandidate(message);
  }

  _mapTracks(tracks) {
    for (const t of tracks || []) this._mids.set(t.mid, t.participantId);
  }

  async _handle(message) {
    switch (message.type) {
      case "joined": {
        this.participantId = message.participantId;
        this.sipUri = message.sipUri;
        this.moderator = !!message.moderator;
        for (const p of message.participants) this.participants.set(p.participantId, { ...p, speaking: false });
        // STUN/TURN servers (with short-lived TURN credentials) come from the server.
        const pc = (this.pc = new RTCPeerConnection({ iceServers: message.iceServers || [], iceTransportPolicy: this.iceTransportPolicy }));
        pc.addEventListener("track", (e) => this._onTrack(e));
        pc.addEventListener("connectionstatechange", () => {
          // media lost while signalling still stands (e.g. the network changed): rejoin
          if (pc !== this.pc || pc.connectionState !== "failed" || this._left) return;
          const ws = this.ws;
          this.ws = null; // its close is ours: not a reason to end
          if (ws) ws.close(1000, "ice-failed");
          this._lost();
        });
        this.pc.addEventListener("icecandidate", (e) => this._onCandidate(e.candidate));
        for (const track of this.localStream.getTracks()) this.pc.addTrack(track, this.localStream);
        const sdp = await this._localDescription(await this.pc.createOffer());
        this._send({ type: "offer", sdp });
        this._describedNow();
        this._emit("joined", { participantId: this.participantId, participants: [...this.participants.values()] });
        break;
      }
      case "answer":
        this._mapTracks(message.tracks);
        await this.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        break;
      case "offer": {
        this._mapTracks(message.tracks);
        await this.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
        const sdp = await this._localDescription(await this.pc.createAnswer());
        this._send({ type: "answer", sdp });
        break;
      }
      case "participant-joined":
        this.participants.set(message.participant.participantId, { ...message.participant, speaking: false });
        this._emit(message.type, message);
        break;
      case "participant-left": {
        this.participants.delete(message.participantId);
        const el = this._audio.get(message.participantId);
        if (el) { el.remove(); this._audio.delete(message.participantId); }
        this._emit(message.type, message);
        break;
      }
      case "muted":
      case "unmuted": {
        const p = this.participants.get(message.participantId);
        if (p) p.muted = message.type === "muted";
        if (message.participantId === this.participantId) {
          // muted by a moderator (or confirming our own mute): keep the microphone in step
          this.muted = message.type === "muted";
          for (const track of this.localStream ? this.localStream.getAudioTracks() : []) track.enabled = !this.muted;
        }
        this._emit(message.type, message);
        break;
      }
      case "hand": {
        const p = this.participants.get(message.participantId);
        if (p) p.handRaised = !!message.raised;
        if (message.participantId === this.participantId) this.handRaised = !!message.raised;
        this._emit(message.type, message);
        break;
      }
      case "removed":
        this._emit(message.type, message);
        this._ended(message.reason || "removed");
        break;
      case "active-speaker":
        for (const p of this.participants.values()) p.speaking = p.participantId === message.participantId;
        this.activeSpeaker = message.participantId;
        this._emit(message.type, message);
        break;
      default:
        this._emit(message.type, message);
    }
  }

  _onTrack(event) {
    const participantId = this._mids.get(event.transceiver.mid) || null;
    const stream = event.streams[0] || new MediaStream([event.track]);
    if (event.track.kind === "audio" && this.autoplay && participantId) {
      let el = this._audio.get(participantId);
      if (!el) {
        el = document.createElement("audio");
        el.autoplay = true;
        el.hidden = true;
        document.body.appendChild(el);
        this._audio.set(participantId, el);
      }
      el.srcObject = stream;
    }
    this._emit("track", { participantId, track: event.track, stream });
  }
}

export async function join(options) {
  const meeting = new Meeting(options);
  return meeting.join(options);
}
