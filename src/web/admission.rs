//! Admission: at most `max_requests_in_flight` requests are answered at once by an
//! instance. Past that, a request is answered 503 with `Retry-After` at once instead of
//! waiting in a queue that grows without limit (each waiting request holds memory, and a
//! client told to retry is better served than one left hanging). Health checks always get
//! through: a load balancer must see an overloaded instance alive and ready.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

/// The requests being answered, and how many may be.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: AtomicUsize,
}

impl Admission {
    pub fn new(limit: usize) -> Admission {
        Admission {
            limit,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// A place among the requests being answered, if one is free.
    fn enter(admission: &web::Data<Admission>) -> Option<Place> {
        let mut current = admission.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= admission.limit {
                return None;
            }
            match admission.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Place(admission.clone())),
                Err(now) => current = now,
            }
        }
    }
}

/// Held while a request is answered; gives its place back when dropped (answered,
/// failed, or abandoned by the client).
struct Place(web::Data<Admission>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

const BUSY: &str = "503 Service Unavailable: too many requests at once; retry in a second\n";

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn admit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(req.path(), "/healthz" | "/readyz") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let admission = req.app_data::<web::Data<Admission>>();
    let place = admission.and_then(Admission::enter);
    if admission.is_some() && place.is_none() {
        let busy = HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .content_type("text/plain; charset=utf-8")
            .body(BUSY);
        return Ok(req.into_response(busy).map_into_right_body());
    }
    let response = next.call(req).await;
    drop(place);
    response.map(ServiceResponse::map_into_left_body)
}
