//! Arbitrary envelope sequences from a hostile relay into live FROST DKG and
//! signing sessions: every input ends in progress or a typed error, never a
//! panic.
#![no_main]

use arbitrary::Arbitrary;
use custos_tss::driver::simulate;
use custos_tss::{
    Committee, DerivationPath, Envelope, ExecutionId, KeyShare, Scheme, Session, Step,
};
use libfuzzer_sys::fuzz_target;
use rand::rngs::OsRng;

#[derive(Arbitrary, Debug)]
struct Input {
    ed25519: bool,
    signing: bool,
    /// Envelopes as (from, seq, round, broadcast, keep the real execution id, payload).
    envelopes: Vec<(u16, u32, u16, bool, bool, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let scheme = if input.ed25519 {
        Scheme::Ed25519
    } else {
        Scheme::SchnorrBip340
    };
    let committee = Committee::new(2, 3).expect("2-of-3");
    let sid = [7u8; 32];
    let keygen =
        |i| custos_tss::keygen(scheme, &sid, committee, i, None, &mut OsRng).expect("session");
    if input.signing {
        let shares: Vec<KeyShare> = simulate((0..3).map(keygen).collect())
            .into_iter()
            .map(|r| r.expect("dkg"))
            .collect();
        let share = shares.into_iter().next().expect("share");
        let root = DerivationPath::root();
        feed(
            custos_tss::sign(&share, &sid, &[0, 1], &root, b"msg", &mut OsRng).expect("session"),
            input.envelopes,
        );
    } else {
        feed(keygen(0), input.envelopes);
    }
});

fn feed<O>(mut session: Session<O>, envelopes: Vec<(u16, u32, u16, bool, bool, Vec<u8>)>) {
    let eid = session.execution_id();
    for (from, seq, round, broadcast, keep_eid, payload) in envelopes {
        match session.poll() {
            Ok(Step::Send(_)) | Ok(Step::Wait) => {}
            Ok(Step::Done(_)) | Err(_) => return,
        }
        let execution_id = if keep_eid { eid } else { ExecutionId([0; 32]) };
        if session
            .handle(Envelope {
                execution_id,
                from,
                to: 0,
                broadcast,
                seq,
                round,
                payload,
            })
            .is_err()
        {
            return;
        }
    }
}
