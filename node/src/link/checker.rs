//! `link[N]/checker`: decodes each op's payload and checks it against the rules every
//! peer applies alike (`Op::validate`), then checks who made it: authorities the peer
//! sends are verified from the session key into the authors table (repeats of known
//! ones passed over unchecked; every signature check a link's authorities and ops
//! cost is paid at a bounded rate, [`SIGNATURE_CHECKS_PER_SECOND`]), and each author's
//! ops wait ([`Runs`]) until they form a run that continues the author's log and ends
//! at an op the author signed — then the run's hashes and signature are verified. All
//! on the link's own task, so the work spreads over every core; the document only
//! commits. Each author pays for the signatures its own ops carry ([`CheckDebts`]):
//! its ops wait while it owes, and debtors are paid in turns (by branch of the grant
//! tree, then by author), so one author that signs every op — or every author one
//! participant minted — holds up no one else's ops on the link. An op that fails
//! closes the link (the runs before it still go on), unless its author signed it
//! and the peer only passed it on: then the author is cut off everywhere by proof
//! (`Evidence::refused`), and the link goes on. Each batch takes one of the
//! link's places in the document's queue ([`crate::session::LINK_CREDITS`]): a link
//! that sends faster than the document applies waits here, not in front of others.

use std::collections::HashMap;
use std::time::Instant;

use canopy_axon::{BoxError, Component, Context, Inbox, Outbox, Scope};
use canopy_canvas::{Limits, NodeId};
use canopy_protocol::{
    op_weight, AuthorKey, Authority, Evidence, Fork, Refusal, SignedHead, WireOp, CHECKPOINT,
    MAX_FORK_BYTES,
};

use super::budget::Budget;
use super::check_debts::CheckDebts;
use super::refuser::Refuser;
use super::runs::{Runs, MAX_DISPUTED};
use super::Inbound;
use crate::session::authors::SealToJudge;
use crate::session::authors::{Authors, SharedAuthors};
use crate::session::document::refusal_for;
use crate::session::{Checked, Credits, DocumentInput, LinkId, Run, SyncInput};

/// The checker component.
pub struct Checker {
    inbox: Inbox<Inbound>,
    /// To the document.
    document: Outbox<DocumentInput>,
    /// To the router: a bad op.
    refuser: Refuser,
    /// To the sync server: seals to judge against its replica.
    sync: Outbox<SyncInput>,
    link: LinkId,
    /// What an op must keep to be taken; `None` in a blind session, which reads
    /// each op's header alone and leaves judging content to the readers.
    limits: Option<Limits>,
    credits: Credits,
    authors: SharedAuthors,
    runs: Runs,
    /// Authors new to the session this link brought.
    learned: usize,
    /// Signature checks this link's authorities and ops may cost.
    checks: Budget,
    /// Signed heads from the peer handed to the sync server so far.
    heads_judged: usize,
    /// Authors whose ops from this link were not what they signed: when each
    /// dispute closes the link unless the author was proven to split its log by
    /// then, and why.
    disputes: Vec<(Instant, NodeId, Refusal)>,
    /// What each author's signatures owe that budget.
    debts: CheckDebts,
    /// The peer's node, if known: a link closes for an op no node takes only when
    /// its peer is the op's author (or its author's signature is not there).
    peer: Option<NodeId>,
    /// The ops no node takes of each author other than the peer whose signature
    /// over them has not come yet (at most [`MAX_DISPUTED`] authors, each at most
    /// a side of a proof), in the order they came: each author is in dispute, and
    /// proof is tried again as its signed ops come.
    suspects: HashMap<NodeId, Vec<WireOp>>,
}

/// Op bytes waiting on a link past which, while authors owe checks, the checker
/// reads no more until they have paid (the sender then waits on flow control).
pub const HOLD_READING_BYTES: u64 = 8 * 1024 * 1024;

/// Signed heads a link's peer sends at which this node holds the author's log
/// further but keeps no head, that the sync server hashes again to compare (a few
/// thousand hashes each at most); the rest are passed over.
pub const MAX_HEADS_TO_JUDGE: usize = 16;

/// What this node holds of an author's log where a peer says the author signed a
/// head.
enum Held {
    /// Another signed head kept there: the author's key, that head, its signature.
    Kept(AuthorKey, canopy_protocol::Head, canopy_protocol::Signature),
    /// The log, further, with no head kept there.
    Further,
}

/// How long a link whose ops are not what their author signed stays open, in case
/// proof that the author split its log is on its way (the peer was sent this node's
/// signed heads as the link came up, and judges them in milliseconds).
pub const DISPUTE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Authors one link may bring into a session.
pub const MAX_AUTHORS_PER_LINK: usize = 4_096;

/// Authors a session holds at most (everyone who ever took part, with room to spare).
pub const MAX_AUTHORS: usize = 65_536;

/// Signature checks per second one link may cost, for its authorities and its ops
/// together (about a quarter of a core): a link that sends more waits, so no link
/// takes a node's cores. Live, an author signs each batch it sends (a person drawing,
/// some 60 a second), so a link carries some 66 people drawing at once before it waits.
pub const SIGNATURE_CHECKS_PER_SECOND: f64 = 4_000.0;

/// Checks a link may spend at once: a joiner is told every author of a session of
/// ten thousand (chains four deep), or takes a backlog of a million ops (a signature
/// every 256), without waiting.
pub const SIGNATURE_CHECKS_BURST: f64 = 40_000.0;

/// Decodes and checks a batch under `limits` (`None`: a blind session's, which reads
/// each op's header alone): the good ops before the first bad one, and why that one
/// is bad.
pub fn check(ops: Vec<WireOp>, limits: Option<&Limits>) -> (Vec<Checked>, Option<Refusal>) {
    let (checked, bad) = check_until_bad(ops, limits);
    (checked, bad.map(|bad| bad.refusal))
}

/// The first op of a batch that [`check`] refuses, and what came after it.
pub struct Bad {
    /// The op.
    pub op: WireOp,
    /// Why.
    pub refusal: Refusal,
    /// The ops after it in the batch, not checked yet.
    pub after: Vec<WireOp>,
}

/// [`check`], keeping the op refused and those after it.
pub fn check_until_bad(ops: Vec<WireOp>, limits: Option<&Limits>) -> (Vec<Checked>, Option<Bad>) {
    let mut checked = Vec::with_capacity(ops.len());
    let mut ops = ops.into_iter();
    while let Some(wire) = ops.next() {
        match check_one(&wire, limits) {
            Ok((op, shape)) => checked.push(Checked { wire, op, shape }),
            Err(refusal) => {
                let bad = Bad {
                    op: wire,
                    refusal,
                    after: ops.collect(),
                };
                return (checked, Some(bad));
            }
        }
    }
    (checked, None)
}

/// One op's shape, read from its header, and (unless blind: `limits` is `None`) the
/// op decoded and checked.
fn check_one(
    wire: &WireOp,
    limits: Option<&Limits>,
) -> Result<(Option<canopy_canvas::Op>, canopy_canvas::Shape), Refusal> {
    let op = match limits {
        Some(limits) => {
            let op = wire
                .to_op()
                .map_err(|error| Refusal::Protocol(error.to_string()))?;
            op.validate(limits).map_err(|error| refusal_for(&error))?;
            Some(op)
        }
        None => None,
    };
    let shape = canopy_protocol::shape_of(wire.id, &wire.payload)
        .map_err(|error| Refusal::Protocol(error.to_string()))?;
    Ok((op, shape))
}

impl Checker {
    /// Makes the boxes.
    pub fn new(scope: &Scope, link: LinkId, limits: Limits, authors: SharedAuthors) -> Self {
        Self {
            inbox: scope.inbox("inbox"),
            document: scope.outbox("outbox"),
            refuser: Refuser::new(scope, link),
            sync: scope.outbox("sync"),
            link,
            limits: Some(limits),
            credits: Credits::default(),
            runs: Runs::new(std::sync::Arc::clone(&authors)),
            authors,
            learned: 0,
            checks: Budget::new(
                SIGNATURE_CHECKS_PER_SECOND,
                SIGNATURE_CHECKS_BURST,
                Instant::now(),
            ),
            heads_judged: 0,
            disputes: Vec::new(),
            debts: CheckDebts::new(),
            peer: None,
            suspects: HashMap::new(),
        }
    }

    /// The same, for a link to `peer`: a link closes for an op no node takes only
    /// when its peer is the op's author, or the author's signature is not there.
    pub fn with_peer(mut self, peer: Option<NodeId>) -> Self {
        self.peer = peer;
        self
    }

    /// The same for a blind session (`blind`): ops are not decoded, only their
    /// headers read, and proof of content no node takes is left to the readers.
    pub fn blind(mut self, blind: bool) -> Self {
        if blind {
            self.limits = None;
        }
        self
    }

    /// The same, with another budget for checking signatures (tests).
    pub fn with_check_budget(mut self, per_second: f64, burst: f64) -> Self {
        self.checks = Budget::new(per_second, burst, Instant::now());
        self
    }

    /// Spends what checking `checks` signatures costs, waiting while the link is over
    /// its rate (more than a burst is paid a burst at a time).
    async fn pay_for(&mut self, checks: usize) {
        let mut owed = checks as f64;
        while owed > 0.0 {
            let now = self.checks.burst().min(owed);
            match self.checks.take_or_wait(now, Instant::now()) {
                Ok(()) => owed -= now,
                Err(wait) => {
                    tokio::time::sleep(wait.unwrap_or(std::time::Duration::from_millis(10))).await
                }
            }
        }
    }

    /// Verifies authorities (outside the table's lock) and takes those new here; the
    /// document keeps them and passes them on.
    async fn authors(&mut self, authorities: Vec<Authority>) -> Option<Refusal> {
        let session = *Authors::read(&self.authors).session();
        let mut news = Vec::new();
        let mut refusal = None;
        for authority in authorities {
            // A repeat of what is known is passed over before any signature is checked.
            if Authors::read(&self.authors).knows(&authority) {
                continue;
            }
            self.pay_for(authority.checks()).await;
            let key = match authority.author(&session) {
                Ok((key, _)) => key,
                Err(error) => {
                    refusal = Some(Refusal::BadInvite(format!(
                        "an author's authority: {error}"
                    )));
                    break;
                }
            };
            let mut table = Authors::write(&self.authors);
            let new_author = table.tip(AuthorKey(key).node_id()).is_none();
            // Any editor can mint authors by delegation: how many a link brings, and
            // a session holds, is bounded.
            if new_author && (self.learned >= MAX_AUTHORS_PER_LINK || table.len() >= MAX_AUTHORS) {
                refusal = Some(Refusal::Limit(format!(
                    "more authors than a link may bring ({MAX_AUTHORS_PER_LINK}) or a session hold ({MAX_AUTHORS})"
                )));
                break;
            }
            match table.learn(&authority) {
                Ok(true) => {
                    self.learned += usize::from(new_author);
                    news.push(authority);
                }
                Ok(false) => {}
                Err(error) => {
                    refusal = Some(Refusal::BadInvite(format!(
                        "an author's authority: {error}"
                    )));
                    break;
                }
            }
        }
        if !news.is_empty() {
            let _ = self
                .document
                .send(DocumentInput::Authors {
                    origin: Some(self.link),
                    authorities: news,
                })
                .await;
        }
        refusal
    }

    /// Takes proof that an author split its log (checked here: two signatures and at
    /// most a checkpoint's worth of hashes); news goes to the document, which leaves
    /// the author's ops out and passes the proof on. Proof that does not verify
    /// closes the link.
    async fn evidence(&mut self, evidence: Evidence) -> Option<Refusal> {
        let session = *Authors::read(&self.authors).session();
        let holds = if self.limits.is_some() {
            evidence.verify(&session)
        } else {
            let Some(holds) = evidence.verify_blind(&session) else {
                // Content a blind session does not read, its author's signature
                // checked: the readers judge it, each on its own (every one refuses
                // the op as it comes, and proves it).
                tracing::debug!(author = %evidence.author.node_id(), "proof of content not judged here");
                return None;
            };
            holds
        };
        if !holds {
            return Some(Refusal::Protocol(
                "evidence against an author that does not verify".into(),
            ));
        }
        self.proven(evidence, Some(self.link)).await;
        None
    }

    /// Compares where the peer says authors' logs stand with the signed heads kept
    /// here at the same ops. A head that differs, signed by its author too, is proof
    /// that the author split its log (two signed heads at one op): found where
    /// version vectors say two nodes hold as much, and nothing else of the author
    /// would pass between them. A signature checked costs the link's budget; one
    /// that does not verify closes the link.
    async fn heads(&mut self, heads: Vec<SignedHead>) -> Option<Refusal> {
        let session = *Authors::read(&self.authors).session();
        let mut to_judge = Vec::new();
        for theirs in heads {
            let ours = {
                let table = Authors::read(&self.authors);
                match table.log(theirs.author) {
                    Some(log) if log.cut_at().is_none() => {
                        match (log.signed_head(theirs.seq), log.signature(theirs.seq)) {
                            (Some(held), Some(signature)) => (held != theirs.head)
                                .then_some(Held::Kept(*log.key(), held, *signature)),
                            // Held further, no head kept there: the sync server
                            // hashes it again from the replica.
                            _ => (log.seq() > theirs.seq).then_some(Held::Further),
                        }
                    }
                    _ => None,
                }
            };
            let (key, head, signature) = match ours {
                None => continue,
                Some(Held::Further) => {
                    if self.heads_judged < MAX_HEADS_TO_JUDGE {
                        self.heads_judged += 1;
                        to_judge.push(theirs);
                    }
                    continue;
                }
                Some(Held::Kept(key, head, signature)) => (key, head, signature),
            };
            self.pay_for(2).await;
            let side = |head, signature| Fork {
                head,
                ops: Vec::new(),
                signature,
                jumps: Vec::new(),
            };
            let proof = Evidence::new(
                &session,
                key,
                theirs.seq,
                side(theirs.head, theirs.signature),
                side(head, signature),
            );
            let Some(evidence) = proof else {
                return Some(Refusal::Protocol(format!(
                    "a head of {}:{} its author did not sign",
                    theirs.author, theirs.seq
                )));
            };
            self.proven(evidence, None).await;
        }
        for theirs in to_judge {
            self.pay_for(1).await;
            let (reply, answer) = tokio::sync::oneshot::channel();
            let asked = SyncInput::JudgeHead {
                head: theirs,
                reply,
            };
            if self.sync.send(asked).await.is_err() {
                break;
            }
            if let Ok(Some(evidence)) = answer.await {
                self.proven(evidence, None).await;
            }
        }
        None
    }

    /// Checks a batch of ops and takes the runs that verify. An op no node takes
    /// closes the link, unless it lies in a run its author signed and the peer only
    /// passed it on: then its author is proven to blame ([`Runs::prove_refused`]),
    /// cut off and the proof goes to every link, and the batch goes on. When the
    /// peer is that author, the link closes too. When the author's signature has
    /// not come yet and the peer is not the author, the op is in dispute: the link
    /// closes after [`DISPUTE_GRACE`] unless the signature comes by then.
    async fn ops(&mut self, ops: Vec<WireOp>) -> (Vec<Run>, Option<Refusal>) {
        let signed: Vec<NodeId> = if self.suspects.is_empty() {
            Vec::new()
        } else {
            ops.iter()
                .filter(|wire| {
                    wire.signature.is_some() && self.suspects.contains_key(&wire.id.node)
                })
                .map(|wire| wire.id.node)
                .collect()
        };
        let taken = self.take_ops(ops).await;
        self.prove_suspects(signed).await;
        taken
    }

    /// Tries again to prove that the authors of ops no node takes that came without
    /// their signature signed them, for those of `authors` still suspected (their
    /// signed ops just came). Each try pays one check.
    async fn prove_suspects(&mut self, mut authors: Vec<NodeId>) {
        authors.sort_unstable();
        authors.dedup();
        for author in authors {
            self.pay_for(1).await;
            let proof = self
                .suspects
                .get(&author)
                .and_then(|held| held.split_first())
                .and_then(|(first, rest)| self.runs.prove_refused(first, rest));
            if let Some(evidence) = proof {
                self.suspects.remove(&author);
                self.proven(evidence, None).await;
            }
        }
    }

    /// [`Checker::ops`] without trying suspects again.
    async fn take_ops(&mut self, ops: Vec<WireOp>) -> (Vec<Run>, Option<Refusal>) {
        let mut taken = Vec::new();
        let mut rest = ops;
        loop {
            let (checked, bad) = check_until_bad(rest, self.limits.as_ref());
            self.owe_for(&checked);
            self.debts.settle(&mut self.checks, Instant::now());
            let debts = &self.debts;
            let (runs, refusal) = self.runs.take(checked, |author| debts.owes(author));
            taken.extend(runs);
            if refusal.is_some() {
                return (taken, refusal);
            }
            let Some(Bad { op, refusal, after }) = bad else {
                return (taken, None);
            };
            let author = op.id.node;
            let cut = Authors::read(&self.authors)
                .tip(author)
                .is_some_and(|tip| tip.cut.is_some());
            if cut {
                // Proven already: nothing of it is taken, and nothing is proven twice.
                if self.peer == Some(author) {
                    return (taken, Some(refusal));
                }
                rest = after;
                continue;
            }
            if let Some(held) = self.suspects.get_mut(&author) {
                // In dispute already (one dispute an author): kept for the proof,
                // which is tried as the author's signed ops come.
                if held.len() < CHECKPOINT as usize
                    && suspect_weight(held).saturating_add(op_weight(op.payload.len()))
                        <= MAX_FORK_BYTES
                {
                    held.push(op);
                }
                rest = after;
                continue;
            }
            // One signature checked, and at most a side of a proof decoded.
            self.pay_for(1).await;
            let Some(evidence) = self.runs.prove_refused(&op, &after) else {
                if self.peer == Some(author) || self.suspects.len() >= MAX_DISPUTED {
                    return (taken, Some(refusal));
                }
                // The author's signature may come in a later message (a node that
                // cannot read payloads passes runs on in whatever pieces): the link
                // closes when the dispute ends, unless the author is proven to
                // blame by then.
                self.disputes
                    .push((Instant::now() + DISPUTE_GRACE, author, refusal));
                self.suspects.insert(author, vec![op]);
                rest = after;
                continue;
            };
            self.proven(evidence, None).await;
            if self.peer == Some(author) {
                return (taken, Some(refusal));
            }
            rest = after;
        }
    }

    /// Proof, checked: if it is news, the author is cut off and the proof goes to
    /// the document for every link but `origin` (`None` for proof found here: the
    /// peer may hold the other side and nothing else that tells).
    async fn proven(&mut self, evidence: Evidence, origin: Option<LinkId>) {
        if Authors::write(&self.authors).cut(&evidence) {
            tracing::warn!(
                author = %evidence.author.node_id(),
                "an author {}: its ops are left out",
                evidence.what()
            );
            let _ = self
                .document
                .send(DocumentInput::Evidence {
                    origin,
                    evidence: Box::new(evidence),
                })
                .await;
        }
    }

    /// Has the sync server judge a seal this link could not place against its
    /// replica (off the document's task: a few thousand hashes at most, and at most
    /// [`super::runs::MAX_SEALS_TO_JUDGE`] a link). Proof that its author split its
    /// log under it goes to every link, this one's too: the sender may hold the
    /// seal's side and nothing else that tells.
    async fn judge_seal(&mut self, seal: SealToJudge) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let asked = SyncInput::JudgeSeal {
            seal: Box::new(seal),
            reply,
        };
        if self.sync.send(asked).await.is_err() {
            return;
        }
        if let Ok(Some(evidence)) = answer.await {
            self.proven(evidence, None).await;
        }
    }

    /// Hands verified runs to the document, holding one of the link's places.
    async fn pass_on(&mut self, runs: Vec<Run>) -> bool {
        if runs.is_empty() {
            return true;
        }
        let Some(credit) = self.credits.take().await else {
            return false;
        };
        let _ = self
            .document
            .send(DocumentInput::FromLink {
                link: self.link,
                runs,
                credit,
            })
            .await;
        true
    }

    /// The next input, or `None` when authors' checks can be paid for; stops with the
    /// inbox. While authors owe and many ops wait, no more is read.
    async fn next_input(&mut self) -> Option<Option<Inbound>> {
        let due = self.debts.next_payment(&mut self.checks, Instant::now());
        let reading = due.is_none() || self.runs.waiting_bytes() <= HOLD_READING_BYTES;
        // Once the link closes, no verdict is waited for.
        let verdict = if self.refuser.is_closing() {
            None
        } else {
            self.disputes.iter().map(|(at, _, _)| *at).min()
        };
        let wake = match (due, verdict) {
            (Some(due), Some(verdict)) => Some(due.min(verdict)),
            (due, verdict) => due.or(verdict),
        };
        tokio::select! {
            inbound = self.inbox.recv(), if reading => inbound.map(Some),
            () = sleep_until_some(wake) => Some(None),
        }
    }

    /// Takes the runs' new disputes, and says why the link closes if one is over
    /// and its author was not proven to split its log by then (a proven author's
    /// dispute ends quietly: the sender passed on its other log).
    fn judge_disputes(&mut self) -> Option<Refusal> {
        let now = Instant::now();
        for (author, refusal) in self.runs.disputes() {
            self.disputes.push((now + DISPUTE_GRACE, author, refusal));
        }
        if self.disputes.is_empty() {
            // The usual case: no lock.
            return None;
        }
        let table = Authors::read(&self.authors);
        let mut refusal = None;
        self.disputes.retain(|(at, author, why)| {
            if table.tip(*author).is_some_and(|tip| tip.cut.is_some()) {
                return false;
            }
            if *at <= now && refusal.is_none() {
                refusal = Some(why.clone());
            }
            true
        });
        if refusal.is_some() {
            self.disputes.clear();
        }
        // Suspects proven meanwhile (here or by another link) are done with.
        self.suspects
            .retain(|author, _| table.tip(*author).is_none_or(|tip| tip.cut.is_none()));
        refusal
    }

    /// Each author owes for the signatures its ops carry (in its branch of the grant
    /// tree; an author not known yet owes in a branch of its own).
    fn owe_for(&mut self, checked: &[Checked]) {
        let mut signed: HashMap<NodeId, f64> = HashMap::new();
        for op in checked.iter().filter(|c| c.wire.signature.is_some()) {
            *signed.entry(op.wire.id.node).or_insert(0.0) += 1.0;
        }
        let table = Authors::read(&self.authors);
        for (author, checks) in signed {
            let branch = table.branch(author).unwrap_or_else(|| {
                let mut own = [0u8; 32];
                own[..8].copy_from_slice(&author.0.to_be_bytes());
                canopy_protocol::GrantId {
                    issuer: own,
                    nonce: u64::MAX,
                }
            });
            self.debts.owe(branch, author, checks);
        }
    }

    /// Pays what the budget allows of authors' checks; the runs of authors that have
    /// paid may go on.
    fn settle(&mut self) -> (Vec<Run>, Option<Refusal>) {
        self.debts.settle(&mut self.checks, Instant::now());
        let debts = &self.debts;
        self.runs.retry(|author| debts.owes(author))
    }
}

/// What ops weigh towards a side of a proof.
fn suspect_weight(ops: &[WireOp]) -> u64 {
    ops.iter()
        .map(|op| op_weight(op.payload.len()))
        .fold(0, u64::saturating_add)
}

/// Waits until `at`, or for ever if there is none.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl Component for Checker {
    async fn run(mut self, _ctx: Context) -> Result<(), BoxError> {
        while let Some(input) = self.next_input().await {
            if self.refuser.is_closing() {
                continue;
            }
            let (runs, refusal) = match input {
                None => self.settle(),
                Some(Inbound::Authors(authorities)) => match self.authors(authorities).await {
                    // Ops that waited for these authors may go on now.
                    None => self.settle(),
                    Some(refusal) => (Vec::new(), Some(refusal)),
                },
                Some(Inbound::Evidence(evidence)) => match self.evidence(*evidence).await {
                    None => (Vec::new(), None),
                    Some(refusal) => (Vec::new(), Some(refusal)),
                },
                Some(Inbound::Heads(heads)) => (Vec::new(), self.heads(heads).await),
                Some(Inbound::Ops(ops)) => self.ops(ops).await,
            };
            // Authors this link's ops showed to have split their logs.
            for evidence in self.runs.found() {
                self.evidence(evidence).await;
            }
            for seal in self.runs.seals_to_judge() {
                self.judge_seal(seal).await;
            }
            if !self.pass_on(runs).await {
                break;
            }
            if let Some(refusal) = refusal.or_else(|| self.judge_disputes()) {
                self.refuser.refuse(refusal).await;
            }
        }
        Ok(())
    }
}
