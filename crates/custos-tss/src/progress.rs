//! Progress reports for long runs (aux info takes about a minute).

/// Something worth telling an operator while a long protocol runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A protocol round began (1-based).
    Round {
        /// Round number.
        number: u16,
        /// The library's name for it, if any.
        name: Option<&'static str>,
    },
    /// A named computation stage inside a round.
    Stage(&'static str),
    /// The protocol finished locally.
    Finished,
}

/// Receives [`ProgressEvent`]s. Closures implement it.
pub trait Progress: Send + Sync {
    /// Called for each event, from the thread running the protocol.
    fn report(&mut self, event: ProgressEvent);
}

impl<F: FnMut(ProgressEvent) + Send + Sync> Progress for F {
    fn report(&mut self, event: ProgressEvent) {
        self(event)
    }
}

/// Bridges cggmp24's tracer to [`Progress`].
pub(crate) struct ProgressTracer {
    sink: Box<dyn Progress>,
    round: u16,
}

impl ProgressTracer {
    pub(crate) fn new(sink: Box<dyn Progress>) -> Self {
        Self { sink, round: 0 }
    }
}

impl cggmp24::progress::Tracer for ProgressTracer {
    fn trace_event(&mut self, event: cggmp24::progress::Event) {
        use cggmp24::progress::Event;
        match event {
            Event::RoundBegins { name } => {
                self.round = self.round.saturating_add(1);
                self.sink.report(ProgressEvent::Round {
                    number: self.round,
                    name,
                });
            }
            Event::Stage { name } => self.sink.report(ProgressEvent::Stage(name)),
            Event::ProtocolEnds => self.sink.report(ProgressEvent::Finished),
            _ => {}
        }
    }
}
