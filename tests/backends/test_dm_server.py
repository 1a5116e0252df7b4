"""Protocol, limits and security of the live DM server (backends/dm/server/autostem_dm_server.py),
run in-process on loopback against the fake DigitalMicrograph module (backed by the simulator).

Run: PYTHONPATH=backends/dm/server:backends/dm/fake:<build>/python python3 -m unittest \
         tests/backends/test_dm_server.py
Every refusal is checked for (1) a clear error, (2) the beam left blanked (the fake's state) and
(3) the server still serving the next legitimate client. Bounded: every socket has a timeout and
the server thread stops by itself (lifetime) if tearDown is never reached.
"""

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for sub in ("backends/dm/server", "backends/dm/fake"):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402

import DigitalMicrograph as DM  # noqa: E402  (the fake)
import autostem_dm_server as srv  # noqa: E402

KEY = bytes(range(32))
TIMEOUT = 10.0


class Client:
    """A minimal protocol client built on the server's own frame codec, able to misbehave."""

    def __init__(self, port, key=KEY):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.key = key
        hello = srv.read_frame(self.sock, [key], 1 << 20)
        self.hello_ok = hello.mac_ok
        self.server_nonce = hello.meta["nonce"]
        self.seq = 0
        self.session = None

    def handshake(self):
        nonce = os.urandom(srv.NONCE_BYTES)
        srv.send_frame(self.sock, self.key, srv.KIND_HELLO, srv.OPS["hello"], 1,
                       {"nonce": nonce.hex(), "server_nonce": self.server_nonce})
        self.session = srv.derive_session_key(self.key, nonce, bytes.fromhex(self.server_nonce))
        r = self.read()
        self.seq = 1
        return r

    def frame(self, op, meta=None, seq=None):
        """The bytes of a request, without sending it."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        # Encoded here, not with srv.encode_frame, so that NaN and Infinity can be sent.
        meta_bytes = json.dumps(meta or {}).encode()
        header = srv.HEADER.pack(srv.MAGIC, srv.PROTOCOL_VERSION, srv.KIND_REQUEST, op, seq, 0, 0,
                                 0, len(meta_bytes), 0, 0, 0, 0)
        tag = hmac.new(self.session, header + meta_bytes, hashlib.sha256).digest()
        body = header + meta_bytes + tag
        return struct.pack("<I", len(body)) + body

    def read(self, key=None):
        return srv.read_frame(self.sock, [key or self.session or self.key], 1 << 30)

    def call(self, op_name, meta=None):
        self.sock.sendall(self.frame(srv.OPS[op_name], meta))
        return self.read()

    def closed(self):
        """True when the server closed the connection (reads EOF)."""
        try:
            self.sock.settimeout(TIMEOUT)
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


class ServerTest(unittest.TestCase):
    ROWS = COLS = 32

    @classmethod
    def setUpClass(cls):
        DM.configure({"phantom": "nanowire", "rows": cls.ROWS, "cols": cls.COLS, "seed": 5,
                      "profile": "rsi2024-remote"})
        cls.tmp = tempfile.TemporaryDirectory()
        key_file = os.path.join(cls.tmp.name, "key")
        with open(key_file, "w") as fh:
            fh.write(KEY.hex() + "\n")
        settings = {
            "key_file": key_file, "host": "127.0.0.1", "port": 0,
            "allowed_clients": ["127.0.0.1"], "survey_shape": [cls.ROWS, cls.COLS],
            "pixel_size_nm": 6.0, "detectors": {"HAADF": 0}, "probe_current_pA": 30.0,
            "limits": {"max_exposure_s": 1.0, "max_idle_s": 30.0, "max_frame_bytes": 1 << 16},
        }
        path = os.path.join(cls.tmp.name, "settings.json")
        with open(path, "w") as fh:
            json.dump(settings, fh)
        cls.settings = srv.load_settings(path)
        cls.server = srv.Server(cls.settings, DM, log=lambda msg: None)
        cls.port = cls.server.bind()
        cls.thread = threading.Thread(target=cls.server.serve, kwargs={"lifetime_s": 300},
                                      daemon=True)
        cls.thread.start()
        # One survey so that positions are defined.
        c = cls.connect()
        r = c.call("survey", {"dwell_s": 1e-5})
        assert r.kind == srv.KIND_RESPONSE, r.meta
        c.call("stop")
        c.close()

    @classmethod
    def tearDownClass(cls):
        cls.server.stopping = True
        cls.thread.join(timeout=TIMEOUT)
        cls.tmp.cleanup()

    @classmethod
    def connect(cls, key=KEY):
        c = Client(cls.port, key)
        r = c.handshake()
        assert r.kind == srv.KIND_RESPONSE and r.mac_ok, r.meta
        return c

    def assert_blanked(self):
        # The server blanks before it answers, so the state is settled when the answer arrives.
        self.assertTrue(DM.fake_state().blanked, "the beam was left unblanked")

    def assert_still_serving(self):
        c = self.connect()
        r = c.call("acquire_point", {"run": "check", "acq_id": int(time.monotonic_ns()),
                                     "row": 3.0, "col": 4.0, "exposure_s": 0.01})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        self.assertEqual(r.array.shape, (DM.fake_scope().describe()["channels"],))
        c.call("stop")
        c.close()
        self.assert_blanked()

    def assert_refused(self, r, text):
        self.assertEqual(r.kind, srv.KIND_ERROR)
        self.assertIn(text, r.meta["error"])

    # --- a legitimate session ---------------------------------------------------------------
    def test_acquire_point_returns_spectrum_position_and_times(self):
        c = self.connect()
        info = c.call("info").meta
        self.assertEqual((info["field_rows"], info["field_cols"]), (self.ROWS, self.COLS))
        r = c.call("acquire_point", {"run": "a", "acq_id": 1, "row": 10.25, "col": 7.5,
                                     "exposure_s": 0.05})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        self.assertEqual(r.array.dtype, np.dtype("<f4"))
        self.assertEqual((r.meta["actual_row"], r.meta["actual_col"]), (10.25, 7.5))
        self.assertLessEqual(r.meta["t_start_s"], r.meta["t_end_s"])
        self.assertGreater(float(r.array.sum()), 0.0)
        self.assertFalse(DM.fake_state().blanked)  # left on until the client blanks
        c.call("blank")
        self.assert_blanked()
        c.close()

    def test_repeated_acquisition_id_is_answered_from_cache_not_reacquired(self):
        c = self.connect()
        meta = {"run": "resume", "acq_id": 7, "row": 5.0, "col": 5.0, "exposure_s": 0.05}
        first = c.call("acquire_point", meta)
        n = DM.fake_state().unblanked_spectra
        c.close()  # the client "lost" the connection; it asks again on a new one
        c = self.connect()
        again = c.call("acquire_point", meta)
        self.assertTrue(again.meta.get("resumed"))
        self.assertEqual(DM.fake_state().unblanked_spectra, n, "the point was exposed twice")
        np.testing.assert_array_equal(first.array, again.array)
        other = dict(meta, col=6.0)
        self.assert_refused(c.call("acquire_point", other), "other parameters")
        c.close()

    def test_move_read_back_blank_and_energy_offset(self):
        c = self.connect()
        self.assertEqual(c.call("move_beam", {"row": 12.5, "col": 3.25}).kind, srv.KIND_RESPONSE)
        r = c.call("get_beam")
        self.assertEqual((r.meta["row"], r.meta["col"]), (12.5, 3.25))
        r = c.call("energy_offset", {"eV": 5.0})
        self.assertEqual(r.meta["eV"], 5.0)
        r = c.call("spectrum", {"exposure_s": 0.01})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        base = DM.fake_scope().describe()["energy_offset_eV"]
        self.assertAlmostEqual(r.meta["energy_offset_eV"], base + 5.0, places=9)
        self.assert_refused(c.call("energy_offset", {"eV": float("nan")}), "finite")
        self.assert_refused(c.call("energy_offset", {"eV": 1e6}), "outside")
        self.assertEqual(c.call("energy_offset", {"eV": 0.0}).meta["eV"], 0.0)
        c.call("blank")
        self.assert_blanked()
        c.close()

    def test_script_numbers_are_formatted_by_the_server(self):
        for bad in (float("nan"), float("inf"), "1); EMSetBeamBlanked(0", True, None):
            with self.assertRaises(srv.RequestError):
                srv.fmt_number(bad)
        self.assertEqual(srv.fmt_number(0.1), "0.1")
        self.assertEqual(srv.fmt_number(1e-300), "1e-300")

    # --- drift reference: DigiScan sub-region scans (scan_patch) -----------------------------
    def test_info_announces_patch_scans_and_the_simulated_clock(self):
        c = self.connect()
        info = c.call("info").meta
        self.assertIn("scan_patch", info["capabilities"])
        self.assertEqual(info["max_patch_pixels"], srv.DEFAULT_LIMITS["max_patch_pixels"])
        self.assertEqual(info["clock"], "simulated")
        # The simulator's clock and timing model, as an in-process simulated run sees them.
        self.assertEqual(c.call("ping").meta["t_s"], DM.fake_scope().now_s())
        r = c.call("estimate_point", {"exposure_s": 0.05})
        self.assertEqual(r.meta["time_s"], DM.fake_scope().estimate_point_s(0.05))
        c.close()

    def test_scan_patch_is_a_sub_region_scan_of_the_survey(self):
        c = self.connect()
        before = DM.fake_state().patches
        electrons = self.server.electrons
        t = DM.fake_scope().now_s()
        r = c.call("scan_patch", {"row0": 4, "col0": 6, "rows": 8, "cols": 10,
                                  "offset_row": 0.25, "offset_col": -0.5, "dwell_s": 1e-5})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        self.assertEqual(r.array.shape, (8, 10))
        self.assertEqual(r.array.dtype, np.dtype("<f4"))  # the survey's depth (settings: 4)
        self.assertGreater(float(r.array.sum()), 0.0)
        self.assertEqual(DM.fake_state().patches, before + 1)
        self.assertEqual((r.meta["t_start_s"], r.meta["t_end_s"]), (t, DM.fake_scope().now_s()))
        self.assertGreater(r.meta["t_end_s"], r.meta["t_start_s"])
        e = self.settings["probe_current_pA"] * 1e-5 * 80 * srv.ELECTRONS_PER_PA_S
        self.assertAlmostEqual(r.meta["electrons"], e, delta=1e-9 * e)
        self.assertAlmostEqual(self.server.electrons - electrons, e, delta=1e-9 * e)
        # DigiScan's sub-region of the survey image: corner = (row0 + offset, col0 + offset) in
        # its pixel frame, as large as the destination image, dwell in µs.
        script = DM.fake_state().scripts[-2]
        self.assertIn("DSScanSubRegion(ref, img, 4.25, 5.5, 12.25, 15.5, 10.0)", script)
        self.assertIn("FindImageByID(%d)" % DM.fake_state().survey_image, script)
        self.assert_blanked()
        c.close()

    def test_bad_patch_requests_are_refused(self):
        c = self.connect()
        ok = {"row0": 2, "col0": 2, "rows": 8, "cols": 8, "offset_row": 0.0, "offset_col": 0.0,
              "dwell_s": 1e-5}
        before = DM.fake_state().patches
        for change, text in (({"rows": 1}, "rows must be an integer 2.."),
                             ({"rows": 8.0}, "rows must be an integer"),
                             ({"row0": -1}, "row0 must be an integer 0.."),
                             ({"col0": True}, "col0 must be an integer"),
                             ({"row0": 28}, "is not inside the 32x32 field"),
                             ({"rows": 32, "cols": 32, "row0": 0, "col0": 0},
                              "exceeds max_patch_pixels"),
                             ({"offset_row": -2.75}, "outside the field"),
                             ({"col0": 24, "offset_col": 0.5}, "outside the field"),
                             ({"offset_col": float("nan")}, "offset_col must be a finite"),
                             ({"dwell_s": 1.0}, "dwell_s 1.0 outside the limits"),
                             ({"detector": "BF"}, "records the survey's signal")):
            limits = self.server.limits
            saved = limits["max_patch_pixels"]
            limits["max_patch_pixels"] = 1000
            try:
                c.call("unblank")
                r = c.call("scan_patch", dict(ok, **change))
            finally:
                limits["max_patch_pixels"] = saved
            self.assert_refused(r, text)
            self.assert_blanked()
        self.assertEqual(DM.fake_state().patches, before, "a refused patch was scanned")
        self.assertEqual(c.call("scan_patch", ok).kind, srv.KIND_RESPONSE)
        c.close()
        self.assert_still_serving()

    def test_patch_outside_field_ds_bounds_is_refused(self):
        limits = self.server.limits
        try:
            limits["field_ds_bounds"] = [0.0, 8.0, 0.0, 8.0]  # DigiScan units: pixels 0..16
            c = self.connect()
            r = c.call("scan_patch", {"row0": 2, "col0": 2, "rows": 8, "cols": 8})
            self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
            r = c.call("scan_patch", {"row0": 2, "col0": 12, "rows": 8, "cols": 8})
            self.assert_refused(r, "field_ds_bounds")
            self.assert_blanked()
            c.close()
        finally:
            limits["field_ds_bounds"] = None

    # --- issue 17: rehearsal clock, si_scan ---------------------------------------------------
    def test_rehearsal_offers_si_scan_with_the_simulated_si_timing(self):
        c = self.connect()
        self.assertIn("si_scan", c.call("info").meta["capabilities"])
        pt = c.call("estimate_point", {"exposure_s": 0.05}).meta["time_s"]
        si = c.call("estimate_point", {"exposure_s": 0.05, "mode": "si_scan"}).meta["time_s"]
        self.assertEqual(si, DM.fake_scope().estimate_point_s(0.05, "si_scan"))
        self.assertLess(si, pt)
        self.assert_refused(c.call("estimate_point", {"exposure_s": 0.05, "mode": "line"}),
                            "mode must be")
        base = {"run": "si", "exposure_s": 0.05, "row": 3.0, "binning": 1}
        times = []
        for k in range(4):
            r = c.call("acquire_point", dict(base, acq_id=k, col=float(k), mode="si_scan"))
            self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
            times.append(r.meta["t_end_s"])
        # Along a line: the SI pixel time (the estimate adds the line flyback's share), far
        # below a point's setup, move and readout.
        steps = np.diff(times)
        self.assertTrue(np.allclose(steps, steps[0], rtol=1e-9), steps)
        self.assertLessEqual(steps[0], si)
        self.assertLess(steps[0], 0.9 * pt)
        c.close()

    def test_not_before_s_idles_the_simulated_microscope_until_then(self):
        c = self.connect()
        t = DM.fake_scope().now_s()
        r = c.call("acquire_point", {"run": "nb", "acq_id": 0, "row": 1.0, "col": 1.0,
                                     "exposure_s": 0.05, "not_before_s": t + 2.5})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        self.assertEqual(r.meta["t_start_s"], t + 2.5, "the acquisition starts at not_before_s")
        # Earlier than the simulated clock: no effect (the microscope cannot go back in time).
        r = c.call("acquire_point", {"run": "nb", "acq_id": 1, "row": 1.0, "col": 2.0,
                                     "exposure_s": 0.05, "not_before_s": 0.0})
        self.assertGreaterEqual(r.meta["t_start_s"], t + 2.5)
        self.assert_refused(c.call("acquire_point", {"run": "nb", "acq_id": 2, "row": 1.0,
                                                     "col": 2.0, "exposure_s": 0.05,
                                                     "not_before_s": float("inf")}),
                            "not_before_s must be a finite")
        c.close()

    def test_the_dose_spent_is_kept_across_a_server_restart(self):
        c = self.connect()
        r = c.call("acquire_point", {"run": "dose", "acq_id": 0, "row": 2.0, "col": 2.0,
                                     "exposure_s": 0.05})
        self.assertEqual(r.kind, srv.KIND_RESPONSE, r.meta)
        c.close()
        path = self.settings["dose_file"]
        self.assertEqual(path, os.path.join(self.tmp.name, "settings.dose.json"),
                         "kept next to the settings file")
        with open(path) as fh:  # written before the answer was sent
            kept = json.load(fh)
        self.assertEqual(kept["electrons"], self.server.electrons)
        self.assertEqual(kept["points"], self.server.points)
        self.assertGreater(kept["electrons"], 0.0)
        # A new server (after a crash, a restart of DM) starts from what was spent, and reports it.
        again = srv.Server(self.settings, DM, log=lambda msg: None)
        self.assertEqual(again.electrons, self.server.electrons)
        self.assertEqual(again.points, self.server.points)
        info = again.op_info({}, None)[0]
        self.assertEqual(info["electrons_used"], self.server.electrons)
        # The budget binds across the restart: a limit just above what is spent refuses more.
        again.limits = dict(again.limits, max_dose_e_per_A2_per_session=(
            again.electrons + 1.0) / again.field_area_A2())
        with self.assertRaises(srv.RequestError) as e:
            again._check_dose(1e6)
        self.assertIn("dose budget exhausted", str(e.exception))
        # A damaged file stops the server instead of resetting the budget.
        bad = dict(self.settings, dose_file=os.path.join(self.tmp.name, "bad.dose.json"))
        with open(bad["dose_file"], "w") as fh:
            fh.write("{\"electrons\": -1, \"points\": 0}")
        with self.assertRaises(ValueError):
            srv.Server(bad, DM, log=lambda msg: None)

    def test_a_live_dm_has_its_own_clock_and_no_timing_model(self):
        class RealDM:  # the fake without its simulator hook, as DigitalMicrograph is
            def __getattr__(self, name):
                if name == "autostem_rehearsal":
                    raise AttributeError(name)
                return getattr(DM, name)
        server = srv.Server(self.settings, RealDM(), log=lambda msg: None)
        self.assertIsNone(server.rehearsal)
        self.assertEqual(server.op_info({}, None)[0]["clock"], "monotonic")
        with self.assertRaises(srv.RequestError):
            server.op_estimate_point({"exposure_s": 0.1}, None)
        # No DM script for synchronized spectrum imaging yet: a live server does not offer
        # si_scan and refuses it (issue 17: a capability and a refusal, never a fallback).
        self.assertNotIn("si_scan", server.op_info({}, None)[0]["capabilities"])
        with self.assertRaises(srv.RequestError) as e:
            server._mode({"mode": "si_scan"})
        self.assertIn("not offered", str(e.exception))
        with self.assertRaises(srv.RequestError):  # no survey on this server yet
            server.op_scan_patch({"row0": 0, "col0": 0, "rows": 4, "cols": 4}, None)

    # --- security ---------------------------------------------------------------------------
    def test_wrong_key_is_refused(self):
        wrong = bytes(32)
        c = Client(self.port, wrong)
        self.assertFalse(c.hello_ok, "a client with the wrong key must not trust the server")
        nonce = os.urandom(srv.NONCE_BYTES)
        srv.send_frame(c.sock, wrong, srv.KIND_HELLO, srv.OPS["hello"], 1,
                       {"nonce": nonce.hex(), "server_nonce": c.server_nonce})
        r = c.read(wrong)
        self.assert_refused(r, "authentication failed")
        self.assertTrue(c.closed())
        c.close()
        self.assert_blanked()
        self.assert_still_serving()

    def test_replayed_hello_is_refused(self):
        c = Client(self.port)
        nonce = os.urandom(srv.NONCE_BYTES)
        old_nonce = os.urandom(srv.NONCE_BYTES).hex()  # a hello recorded on another connection
        srv.send_frame(c.sock, KEY, srv.KIND_HELLO, srv.OPS["hello"], 1,
                       {"nonce": nonce.hex(), "server_nonce": old_nonce})
        self.assert_refused(c.read(KEY), "replayed")
        c.close()
        self.assert_still_serving()

    def test_tampered_frame_is_refused(self):
        c = self.connect()
        raw = bytearray(c.frame(srv.OPS["acquire_point"],
                                {"run": "t", "acq_id": 1, "row": 1.0, "col": 1.0,
                                 "exposure_s": 0.01}))
        raw[4 + srv.HEADER.size + 20] ^= 0x01  # one bit of the metadata
        c.sock.sendall(bytes(raw))
        self.assert_refused(c.read(), "authentication failed")
        self.assertTrue(c.closed())
        c.close()
        self.assert_blanked()
        self.assert_still_serving()

    def test_replayed_frame_is_refused(self):
        c = self.connect()
        raw = c.frame(srv.OPS["ping"])
        c.sock.sendall(raw)
        self.assertEqual(c.read().kind, srv.KIND_RESPONSE)
        c.sock.sendall(raw)  # the same bytes again
        self.assert_refused(c.read(), "replayed or reordered")
        c.close()
        # ... and on another connection, where the per-connection key differs.
        d = self.connect()
        d.sock.sendall(raw[:12] + struct.pack("<Q", 2) + raw[20:])
        self.assert_refused(d.read(), "authentication failed")
        d.close()
        self.assert_blanked()
        self.assert_still_serving()

    def test_reordered_frame_is_refused(self):
        c = self.connect()
        first = c.frame(srv.OPS["ping"])
        second = c.frame(srv.OPS["ping"])
        c.sock.sendall(second)
        self.assert_refused(c.read(), "replayed or reordered")
        del first
        c.close()
        self.assert_still_serving()

    def test_frame_declaring_4_GB_is_refused_before_allocation(self):
        c = self.connect()
        c.sock.sendall(struct.pack("<I", 0xFFFFFFFF) + b"ASTM")
        r = c.read()
        self.assert_refused(r, "frame declares 4294967295 bytes")
        self.assertTrue(c.closed())
        c.close()
        self.assert_blanked()
        self.assert_still_serving()

    def test_unknown_operation_is_refused_and_connection_kept(self):
        c = self.connect()
        c.sock.sendall(c.frame(999))
        self.assert_refused(c.read(), "unknown operation 999")
        self.assertEqual(c.call("ping").kind, srv.KIND_RESPONSE)
        c.close()
        self.assert_blanked()

    def test_non_finite_and_out_of_field_positions_are_refused(self):
        c = self.connect()
        # Unblank first so that the refusal visibly blanks again.
        for row, col, text in ((float("nan"), 1.0, "row must be a finite number"),
                               (1.0, float("inf"), "col must be a finite number"),
                               (-0.75, 1.0, "outside the field"),
                               (1.0, self.COLS - 0.5, "outside the field"),
                               ("1); EMSetBeamBlanked(0", 1.0, "finite number")):
            c.call("unblank")
            # json.dumps writes NaN / Infinity tokens, which the server's json parser accepts.
            r = c.call("acquire_point", {"run": "p", "acq_id": 100, "row": row, "col": col,
                                         "exposure_s": 0.01})
            self.assert_refused(r, text)
            self.assert_blanked()
            r = c.call("move_beam", {"row": row, "col": col})
            self.assert_refused(r, text)
        c.close()
        self.assert_still_serving()

    def test_position_outside_field_ds_bounds_is_refused(self):
        limits = self.server.limits
        try:
            limits["field_ds_bounds"] = [0.0, 2.0, 0.0, 2.0]  # DigiScan units: pixels 0..4
            c = self.connect()
            self.assertEqual(c.call("move_beam", {"row": 3.0, "col": 3.0}).kind, srv.KIND_RESPONSE)
            c.call("unblank")
            self.assert_refused(c.call("move_beam", {"row": 3.0, "col": 10.0}), "field_ds_bounds")
            self.assert_blanked()
            c.close()
        finally:
            limits["field_ds_bounds"] = None
        self.assert_still_serving()

    def test_exposure_above_limit_is_refused(self):
        c = self.connect()
        c.call("unblank")
        r = c.call("acquire_point", {"run": "e", "acq_id": 1, "row": 1.0, "col": 1.0,
                                     "exposure_s": 1.5})
        self.assert_refused(r, "max_exposure_s")
        self.assert_blanked()
        r = c.call("spectrum", {"exposure_s": -1.0})
        self.assert_refused(r, "exposure_s")
        c.close()
        self.assert_still_serving()

    def test_dose_budget_exhausted_is_refused(self):
        limits = self.server.limits
        saved = limits["max_dose_e_per_A2_per_session"]
        try:
            # Room for exactly one more 0.1 s spectrum.
            one = self.settings["probe_current_pA"] * 0.1 * srv.ELECTRONS_PER_PA_S
            limits["max_dose_e_per_A2_per_session"] = \
                (self.server.electrons + 1.5 * one) / self.server.field_area_A2()
            c = self.connect()
            meta = {"run": "d", "acq_id": 1, "row": 2.0, "col": 2.0, "exposure_s": 0.1}
            self.assertEqual(c.call("acquire_point", meta).kind, srv.KIND_RESPONSE)
            meta["acq_id"] = 2
            r = c.call("acquire_point", meta)
            self.assert_refused(r, "dose budget exhausted")
            self.assert_blanked()
            # Nothing left at all: even a survey is refused.
            limits["max_dose_e_per_A2_per_session"] = \
                self.server.electrons / self.server.field_area_A2()
            r = c.call("survey", {"dwell_s": 1e-5})
            self.assert_refused(r, "dose budget exhausted")
            c.close()
        finally:
            limits["max_dose_e_per_A2_per_session"] = saved
        self.assert_still_serving()

    def test_point_budget_exhausted_is_refused(self):
        limits = self.server.limits
        saved = limits["max_points_per_session"]
        try:
            limits["max_points_per_session"] = self.server.points
            c = self.connect()
            r = c.call("acquire_point", {"run": "n", "acq_id": 1, "row": 2.0, "col": 2.0,
                                         "exposure_s": 0.01})
            self.assert_refused(r, "point budget exhausted")
            self.assert_blanked()
            c.close()
        finally:
            limits["max_points_per_session"] = saved
        self.assert_still_serving()

    def test_client_not_in_allowed_list_is_dropped(self):
        allowed = self.settings["allowed_clients"]
        saved = list(allowed)
        try:
            allowed[:] = ["10.9.8.7"]
            s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
            self.assertEqual(s.recv(1), b"")  # closed without a hello
            s.close()
        finally:
            allowed[:] = saved
        self.assert_still_serving()

    def test_idle_beam_is_blanked(self):
        limits = self.server.limits
        saved = limits["max_idle_s"]
        try:
            limits["max_idle_s"] = 0.3
            c = self.connect()
            c.call("unblank")
            self.assertFalse(DM.fake_state().blanked)
            deadline = time.monotonic() + 5.0
            while not DM.fake_state().blanked and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assert_blanked()
            c.close()
        finally:
            limits["max_idle_s"] = saved

    def test_disconnect_blanks_the_beam(self):
        c = self.connect()
        c.call("unblank")
        c.close()
        deadline = time.monotonic() + 5.0
        while not DM.fake_state().blanked and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assert_blanked()


class SessionFieldTest(unittest.TestCase):
    """The session's field from the client, within the server's limits (issue 17): asked in
    `info`, checked against max_survey_shape / max_survey_pixels / pixel_size_nm_range, DM's
    survey calibration read back and checked against the pixel size asked. The server's ops are
    called directly (no socket); the fake's phantom covers 192 nm whatever its shape."""

    def setUp(self):
        DM.configure({"phantom": "nanowire", "rows": 32, "cols": 32, "seed": 5,
                      "profile": "rsi2024-remote"})
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.logged = []

    def server(self, limits):
        key = os.path.join(self.tmp.name, "key")
        with open(key, "w") as fh:
            fh.write(KEY.hex())
        path = os.path.join(self.tmp.name, "settings.json")
        with open(path, "w") as fh:
            json.dump({"key_file": key, "survey_shape": [32, 32], "pixel_size_nm": 6.0,
                       "dose_file": None, "limits": limits}, fh)
        return srv.Server(srv.load_settings(path), DM, log=self.logged.append)

    def test_two_sessions_with_different_fields_on_one_server(self):
        s = self.server({"max_survey_shape": [64, 64], "pixel_size_nm_range": [1.0, 10.0]})
        info = s.op_info({"survey_shape": [48, 48], "pixel_size_nm": 4.0}, None)[0]
        self.assertEqual((info["field_rows"], info["field_cols"], info["pixel_size_nm"]),
                         (48, 48, 4.0))
        self.assertEqual(info["max_survey_shape"], [64, 64])
        meta, data = s.op_survey({"dwell_s": 1e-5}, None)
        self.assertEqual(data.shape, (48, 48))
        self.assertEqual(meta["dm_pixel_size_nm"], 4.0)
        self.assertEqual(meta["dm_units"], "nm")
        self.assertAlmostEqual(meta["dm_magnification"], 1e8 / 192.0)
        self.assertEqual(s.field_area_A2(), 48 * 48 * 16.0 * 100.0)
        r = s.op_acquire_point({"run": "f", "acq_id": 0, "row": 47.0, "col": 40.0,
                                "exposure_s": 0.01}, None)[0]
        self.assertEqual((r["actual_row"], r["actual_col"]), (47.0, 40.0))
        # The next session asks nothing: the settings' field, and no position before its survey.
        info = s.op_info({}, None)[0]
        self.assertEqual((info["field_rows"], info["field_cols"], info["pixel_size_nm"]),
                         (32, 32, 6.0))
        with self.assertRaisesRegex(srv.RequestError, "no survey yet"):
            s.op_acquire_point({"run": "f", "acq_id": 1, "row": 3.0, "col": 3.0,
                                "exposure_s": 0.01}, None)
        meta, data = s.op_survey({"dwell_s": 1e-5}, None)
        self.assertEqual(data.shape, (32, 32))
        self.assertEqual(meta["dm_pixel_size_nm"], 6.0)
        with self.assertRaisesRegex(srv.RequestError, "outside the field"):
            s.op_acquire_point({"run": "f", "acq_id": 2, "row": 40.0, "col": 3.0,
                                "exposure_s": 0.01}, None)
        self.assertTrue(any("session field: 48x48 pixels of 4 nm" in m for m in self.logged))

    def test_a_field_outside_the_limits_is_refused_with_the_limit_named(self):
        fixed = self.server({})  # no field limits: only the settings' field
        with self.assertRaisesRegex(srv.RequestError, "max_survey_shape is null"):
            fixed.op_info({"survey_shape": [48, 48]}, None)
        with self.assertRaisesRegex(srv.RequestError, "pixel_size_nm_range is null"):
            fixed.op_info({"pixel_size_nm": 4.0}, None)
        info = fixed.op_info({"survey_shape": [32, 32], "pixel_size_nm": 6.1}, None)[0]
        self.assertEqual(info["pixel_size_nm"], 6.1)  # within the 5 % tolerance of 6 nm
        s = self.server({"max_survey_shape": [64, 64], "pixel_size_nm_range": [1.0, 10.0],
                         "max_survey_pixels": 2000})
        for ask, text in (({"survey_shape": [65, 8]}, "exceeds limits.max_survey_shape 64x64"),
                          ({"survey_shape": [48, 48]}, "exceeds max_survey_pixels 2000"),
                          ({"survey_shape": [0, 4]}, "survey_shape must be"),
                          ({"survey_shape": [4.0, 4]}, "survey_shape must be"),
                          ({"survey_shape": "8x8"}, "survey_shape must be"),
                          ({"pixel_size_nm": 0.5}, "outside limits.pixel_size_nm_range"),
                          ({"pixel_size_nm": float("nan")}, "finite")):
            with self.subTest(ask=ask):
                with self.assertRaisesRegex(srv.RequestError, text):
                    s.op_info(ask, None)
        self.assertEqual(s.op_info({"survey_shape": [40, 40]}, None)[0]["field_rows"], 40)

    def test_a_pixel_size_dm_does_not_confirm_refuses_the_session(self):
        s = self.server({"max_survey_shape": [64, 64], "pixel_size_nm_range": [1.0, 10.0]})
        s.op_info({"survey_shape": [48, 48], "pixel_size_nm": 5.0}, None)  # DM shows 4 nm
        electrons = s.electrons
        with self.assertRaisesRegex(srv.RequestError,
                                    r"DM's survey calibration is 4 nm per pixel.*--pixel-size 4"):
            s.op_survey({"dwell_s": 1e-5}, None)
        self.assertGreater(s.electrons, electrons, "the survey's dose is counted")
        self.assertTrue(DM.fake_state().blanked)
        with self.assertRaisesRegex(srv.RequestError, "no survey yet"):
            s.op_acquire_point({"run": "p", "acq_id": 0, "row": 3.0, "col": 3.0,
                                "exposure_s": 0.01}, None)
        s.op_info({"survey_shape": [48, 48], "pixel_size_nm": 4.1}, None)  # within 5 %
        self.assertEqual(s.op_survey({"dwell_s": 1e-5}, None)[1].shape, (48, 48))
        # Not asked: a calibration other than the settings' is reported and logged, not refused.
        s = self.server({"max_survey_shape": [64, 64]})
        s.op_info({"survey_shape": [64, 64]}, None)  # DM shows 3 nm, the settings say 6
        meta = s.op_survey({"dwell_s": 1e-5}, None)[0]
        self.assertEqual((meta["pixel_size_nm"], meta["dm_pixel_size_nm"]), (6.0, 3.0))
        self.assertTrue(any("WARNING: DM's survey calibration is 3 nm" in m for m in self.logged))

    def test_calibration_units_and_a_missing_calibration(self):
        class Img:
            def __init__(self, scale, units, tags):
                self.scale, self.units, self.tags = scale, units, DM.TagGroup()
                for k, v in tags.items():
                    self.tags.SetTagAsFloat(k, v)

            def GetDimensionScale(self, d):
                return self.scale

            def GetDimensionUnitString(self, d):
                return self.units

            def GetTagGroup(self):
                return self.tags
        scope = srv.Microscope(DM)
        mag = "Microscope Info:Indicated Magnification"
        self.assertEqual(scope.calibration(Img(0.004, "\u00b5m", {mag: 5e5}))["pixel_size_nm"], 4.0)
        self.assertAlmostEqual(scope.calibration(Img(40.0, "\u00c5", {}))["pixel_size_nm"], 4.0)
        cal = scope.calibration(Img(1.0, "", {}))
        self.assertIsNone(cal["pixel_size_nm"])
        self.assertIsNone(cal["magnification"])
        self.assertEqual(scope.calibration(Img(0.5, "nm", {mag: 5e5}))["magnification"], 5e5)

    def test_ping_reports_the_last_blanker_command(self):
        s = self.server({})
        self.assertIs(s.op_ping({}, None)[0]["blanked"], True)  # the server blanks at start
        s.op_unblank({}, None)
        self.assertIs(s.op_ping({}, None)[0]["blanked"], False)
        s.op_stop({}, None)
        self.assertIs(s.op_ping({}, None)[0]["blanked"], True)


class SettingsTest(unittest.TestCase):
    def write(self, settings, key=KEY.hex()):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "key"), "w") as fh:
            fh.write(key)
        settings = dict(settings, key_file=os.path.join(d, "key"))
        with open(os.path.join(d, "s.json"), "w") as fh:
            json.dump(settings, fh)
        return os.path.join(d, "s.json")

    def test_short_key_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "at least 16"):
            srv.load_settings(self.write({"survey_shape": [8, 8]}, key="abcd"))

    def test_bad_limit_is_rejected_with_its_name(self):
        with self.assertRaisesRegex(ValueError, "limits.max_exposure_s"):
            srv.load_settings(self.write({"survey_shape": [8, 8],
                                          "limits": {"max_exposure_s": -1}}))
        with self.assertRaisesRegex(ValueError, "unknown limits"):
            srv.load_settings(self.write({"survey_shape": [8, 8], "limits": {"max_expo": 1}}))

    def test_bad_field_bounds_are_rejected(self):
        with self.assertRaisesRegex(ValueError, "field_ds_bounds"):
            srv.load_settings(self.write({"survey_shape": [8, 8],
                                          "limits": {"field_ds_bounds": [1, 0, 0, 1]}}))

    def test_bad_field_limits_are_rejected_with_their_names(self):
        for limits, name in (({"max_survey_shape": [0, 8]}, "limits.max_survey_shape"),
                             ({"max_survey_shape": 64}, "limits.max_survey_shape"),
                             ({"pixel_size_nm_range": [2.0, 1.0]}, "limits.pixel_size_nm_range"),
                             ({"pixel_size_nm_range": [0.0, 1.0]}, "limits.pixel_size_nm_range"),
                             ({"pixel_size_tolerance": -0.1}, "limits.pixel_size_tolerance")):
            with self.subTest(limits=limits):
                with self.assertRaisesRegex(ValueError, name):
                    srv.load_settings(self.write({"survey_shape": [8, 8], "limits": limits}))

    def test_missing_survey_shape_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "survey_shape"):
            srv.load_settings(self.write({}))


class FrameTest(unittest.TestCase):
    def test_round_trip_and_tag(self):
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        raw = b"".join(bytes(p) for p in srv.encode_frame(KEY, srv.KIND_RESPONSE, 3, 9,
                                                          {"x": 1.5}, a))
        f = srv.parse_body(bytearray(raw[4:]), [KEY])
        self.assertTrue(f.mac_ok)
        self.assertEqual((f.op, f.seq, f.meta), (3, 9, {"x": 1.5}))
        np.testing.assert_array_equal(f.array, a)
        self.assertFalse(srv.parse_body(bytearray(raw[4:]), [bytes(32)]).mac_ok)

    def test_length_mismatch_is_a_protocol_error(self):
        raw = b"".join(bytes(p) for p in srv.encode_frame(KEY, srv.KIND_REQUEST, 12, 2))
        with self.assertRaises(srv.ProtocolError):
            srv.parse_body(bytearray(raw[4:] + b"x"), [KEY])


if __name__ == "__main__":
    unittest.main()


class DmCallsTest(unittest.TestCase):
    """issue 17: every DM call and tag the server uses is in docs/live.md §6, the fake refuses
    anything else, and --check runs each call once with the beam blanked."""

    def test_every_dm_call_is_listed_and_every_listed_call_is_used(self):
        import re
        documented = DM.documented_calls()
        used = set()
        for text in srv.SCRIPTS.values():
            used |= set(re.findall(r"([A-Za-z_][A-Za-z_0-9]*)\(", text))
        self.assertEqual(used, documented["script"], "SCRIPTS and docs/live.md §6 differ")
        self.assertEqual(set(DM._FUNCTIONS), documented["script"],
                         "the fake implements exactly the listed script functions")
        with open(srv.__file__, encoding="utf-8") as fh:
            source = fh.read()
        self.assertEqual(set(re.findall(r'tag\("([^"]+)"\)', source)), documented["tag"])
        notes = set(re.findall(r'_note\("(\w+)"\)', source)) | \
            set(re.findall(r'autostem:(\w+)"', "".join(srv.SCRIPTS.values())))
        self.assertEqual({"autostem:" + n for n in notes}, documented["note"])
        calls = set(re.findall(r"self\.dm\.(\w+)\(", source)) | \
            set(re.findall(r"\.(GetNumArray|GetTagGroup|GetTagAsFloat|GetDimensionScale|"
                       r"GetDimensionUnitString)\(", source))
        self.assertEqual(calls, documented["python"])

    def test_an_unlisted_call_is_refused_by_the_fake(self):
        DM.configure({"phantom": "nanowire", "rows": 32, "cols": 32})
        DM.ExecuteScriptString("EMSetBeamBlanked(1)\n")  # listed: runs
        saved = set(DM._DOCUMENTED["script"])
        try:
            DM._DOCUMENTED["script"].discard("EMSetBeamBlanked")
            with self.assertRaises(RuntimeError) as e:
                DM.ExecuteScriptString("EMSetBeamBlanked(1)\n")
            self.assertIn("not in the list of DM calls", str(e.exception))
        finally:
            DM._DOCUMENTED["script"] = saved

    def _check(self, env_extra):
        import subprocess
        with tempfile.TemporaryDirectory() as tmp:
            key = os.path.join(tmp, "key")
            with open(key, "w") as fh:
                fh.write(KEY.hex())
            settings = os.path.join(tmp, "settings.json")
            with open(settings, "w") as fh:
                json.dump({"key_file": key, "survey_shape": [32, 32], "pixel_size_nm": 6.0,
                           "dose_file": None}, fh)
            env = dict(os.environ, AUTOSTEM_FAKE_DM=json.dumps(
                {"phantom": "nanowire", "rows": 32, "cols": 32}), **env_extra)
            p = subprocess.run([sys.executable, srv.__file__, "--check", "--settings", settings],
                               env=env, capture_output=True, text=True, timeout=120)
            return p.returncode, p.stdout + p.stderr

    def test_check_runs_every_call_once_with_the_beam_blanked(self):
        rc, out = self._check({})
        self.assertEqual(rc, 0, out)
        self.assertIn("9 of 9 steps ok; beam blanked", out)
        self.assertNotIn("FAILED", out)

    def test_check_reports_a_call_that_fails_and_goes_on(self):
        with tempfile.TemporaryDirectory() as tmp:
            doc = os.path.join(tmp, "live.md")
            with open(DM._CALLS_DOC, encoding="utf-8") as fh:
                text = fh.read()
            with open(doc, "w", encoding="utf-8") as fh:
                fh.write("\n".join(l for l in text.splitlines() if "`DSScanSubRegion`" not in l))
            rc, out = self._check({"AUTOSTEM_DM_CALLS_DOC": doc})
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"sub-region scan 4x4 \(blanked\)\s+FAILED: .*DSScanSubRegion")
        self.assertIn("8 of 9 steps ok; beam blanked", out)
