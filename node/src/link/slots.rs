//! Handshake slots: joins in progress, at most [`MAX_PENDING`] in all and
//! [`MAX_PER_ADDRESS`] from any one address, each held until its handshake ends (and a
//! handshake has [`super::handshake::HANDSHAKE_TIMEOUT`] to say hello). So strangers
//! that connect and say nothing hold a few slots for a few seconds, never all of them:
//! joiners from elsewhere still get in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Joins being handshaken at once, at most (each holds a connection with a stranger's
/// 64 KiB window and a component, for at most the handshake deadline).
pub const MAX_PENDING: usize = 256;

/// Joins being handshaken at once from one address, at most: room for a classroom
/// behind one NAT joining together (an honest handshake takes milliseconds), while
/// one address can hold an eighth of the slots at most.
pub const MAX_PER_ADDRESS: usize = 32;

/// The slots, shared by the listener and the handshakes holding them.
#[derive(Debug, Clone)]
pub struct HandshakeSlots {
    held: Arc<Mutex<Held>>,
    max_pending: usize,
    max_per_address: usize,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    held: Arc<Mutex<Held>>,
    address: IpAddr,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoSlot {
    /// Every slot is held.
    #[error("{0} joins are in progress already")]
    Full(usize),
    /// This address holds its share.
    #[error("{0} joins from this address are in progress already")]
    AddressFull(usize),
}

impl Default for HandshakeSlots {
    fn default() -> Self {
        Self::new(MAX_PENDING, MAX_PER_ADDRESS)
    }
}

impl HandshakeSlots {
    /// Slots with these bounds.
    pub fn new(max_pending: usize, max_per_address: usize) -> Self {
        Self {
            held: Arc::default(),
            max_pending,
            max_per_address,
        }
    }

    /// A slot for a join from `address`, if one is free for it.
    pub fn take(&self, address: IpAddr) -> Result<Slot, NoSlot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.total >= self.max_pending {
            return Err(NoSlot::Full(held.total));
        }
        let from_here = held.by_address.get(&address).copied().unwrap_or(0);
        if from_here >= self.max_per_address {
            return Err(NoSlot::AddressFull(from_here));
        }
        held.total += 1;
        held.by_address.insert(address, from_here + 1);
        Ok(Slot {
            held: Arc::clone(&self.held),
            address,
        })
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.total = held.total.saturating_sub(1);
        if let Some(count) = held.by_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_address_holds_its_share_and_others_still_get_in() {
        let slots = HandshakeSlots::new(10, 3);
        let flood: Vec<Slot> = (0..3).map(|_| slots.take(ip(1)).unwrap()).collect();
        assert_eq!(slots.take(ip(1)).unwrap_err(), NoSlot::AddressFull(3));
        let honest = slots.take(ip(2)).expect("another address gets in");
        assert_eq!(slots.held(), 4);
        drop(flood);
        assert_eq!(slots.held(), 1);
        assert!(slots.take(ip(1)).is_ok(), "slots come back when dropped");
        drop(honest);
    }

    #[test]
    fn the_total_is_bounded_across_addresses() {
        let slots = HandshakeSlots::new(4, 2);
        let held: Vec<Slot> = (1..=4)
            .map(|n: u8| slots.take(ip(n.div_ceil(2))).unwrap())
            .collect();
        assert_eq!(slots.take(ip(9)).unwrap_err(), NoSlot::Full(4));
        drop(held);
        assert_eq!(slots.held(), 0);
        assert!(slots.held.lock().unwrap().by_address.is_empty());
    }
}
